"""project/shutdown.py: a server whose loop stopped still exits, and exits cleanly."""

import subprocess
import sys
import textwrap

from django.conf import settings

# A process whose event loop stops, as daphne's does on SIGTERM, while a
# worker thread waits in async_to_sync for a coroutine of that loop: the
# database work of a consumer that broadcasts after its commit.
CAUGHT_THREAD = textwrap.dedent(
    """
    import asyncio
    import threading

    from asgiref.sync import async_to_sync, sync_to_async

    from project import shutdown

    shutdown.install()
    waiting = threading.Event()


    async def never_done():
        await asyncio.Event().wait()


    def broadcast_after_commit():
        waiting.set()
        async_to_sync(never_done)()


    async def serve():
        asyncio.ensure_future(sync_to_async(broadcast_after_commit)())
        await asyncio.to_thread(waiting.wait)


    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(serve())
    print("loop stopped", flush=True)
    """
)


def test_a_thread_waiting_on_the_stopped_loop_does_not_hold_the_exit():
    process = subprocess.run(
        [sys.executable, "-c", CAUGHT_THREAD],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        # Without the finisher the interpreter joins the thread for ever.
        timeout=60,
    )
    assert process.stdout == "loop stopped\n"
    assert process.returncode == 0, process.stderr
