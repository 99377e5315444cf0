"""project/shutdown.py: a server whose loop stopped still exits, and exits cleanly.

Each case is a process whose event loop stops, as daphne's does on SIGTERM,
while a worker thread is doing a consumer's database work, which broadcasts
after its commit through async_to_sync: a call only that loop can answer.
"""

import subprocess
import sys
import textwrap

import pytest
from django.conf import settings

PROCESS = """
import asyncio
import threading

import uvloop
from asgiref.sync import async_to_sync, sync_to_async

from project import shutdown

shutdown.install()
working = threading.Event()
stopped = threading.Event()


async def never_done():
    await asyncio.Event().wait()


async def quick():
    await asyncio.sleep(0)


def database_work():
    working.set()
    {work}


async def serve():
    asyncio.ensure_future(sync_to_async(database_work)())
    await asyncio.to_thread(working.wait)


if {uvloop}:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
loop.run_until_complete(serve())
print("loop stopped", flush=True)
stopped.set()
"""

WORK = {
    # Already waiting for the loop when it stops.
    "waiting when the loop stops": "async_to_sync(never_done)()",
    # Still committing when it stops: it asks the loop only afterwards.
    "asking after the loop stopped": "stopped.wait(); async_to_sync(quick)()",
}


@pytest.mark.parametrize("uvloop", [True, False], ids=["uvloop", "asyncio"])
@pytest.mark.parametrize("work", WORK.values(), ids=WORK.keys())
def test_a_thread_that_needs_the_stopped_loop_does_not_hold_the_exit(work, uvloop):
    process = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROCESS.format(work=work, uvloop=uvloop))],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        # Without the finisher the interpreter joins the thread for ever.
        timeout=60,
    )
    assert process.stdout == "loop stopped\n"
    assert process.returncode == 0, process.stderr
