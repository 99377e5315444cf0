"""What a connect storm costs the server: CPU seconds per socket opened, on a live daphne.

Not a test (its name keeps it out of the suite's collection): a measurement,
run on its own, on the embedded default and on PostgreSQL + Redis:

    .venv/bin/pytest tests/streams/measure_connect.py -s
    TEST_STACK=postgres-redis .venv/bin/pytest tests/streams/measure_connect.py -s

with MEASURE_TREE=<another checkout> to measure that one's code the same way,
and MEASURE_FORMS=room (or ws) for one of the two forms.

Each run opens SOCKETS authenticated sockets (at most IN_FLIGHT handshakes at
once) into one room, then as many multiplexed sockets (/ws/) each joining
ROOMS rooms, and prints the daphne process's CPU seconds (user + system) per
socket until the last one's `stream.ready`. CPU seconds, not connects/s: they
hold on a machine shared with other work.
"""

import asyncio
import json
import os
import sys
from pathlib import Path

import psutil
import pytest

from chat import services
from tests.bench.client import HandshakeError, open_lean
from tests.support.harness import REPO, DaphneServer, attach_log
from tests.support.orm import db

pytestmark = [pytest.mark.django_db(transaction=True)]

SOCKETS = int(os.environ.get("MEASURE_SOCKETS", 500))
IN_FLIGHT = 100
USERS = 50
ROOMS = 20


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def storm(url: str, origin: str, cookies: list[str], joins: list[str]) -> int:
    """Open a socket per cookie, IN_FLIGHT at a time, until each has every `stream.ready` it
    asked for (one, and one per join); the number of handshakes daphne dropped meanwhile."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    sockets = []
    dropped = [0]

    async def one(cookie: str) -> None:
        async with gate:
            ready = asyncio.get_running_loop().create_future()
            wanted = [1 + len(joins)]

            def on_text(payload: bytes) -> None:
                frame = json.loads(payload)
                if frame.get("type") == "stream.ready":
                    wanted[0] -= 1
                    if wanted[0] == 0 and not ready.done():
                        ready.set_result(None)
                elif frame.get("type") == "error" and not ready.done():
                    ready.set_exception(AssertionError(frame))

            while True:
                try:
                    socket = await open_lean(url, origin=origin, cookie=cookie, on_text=on_text)
                    break
                except HandshakeError:
                    # daphne drops a handshake not answered within its connect timeout
                    # (5 s): the client comes back, as a browser would.
                    dropped[0] += 1
            sockets.append(socket)
            for name in joins:
                socket.send_text(json.dumps({"type": "stream.join", "stream": name}))
            await asyncio.wait_for(ready, 120)

    await asyncio.gather(*(one(cookie) for cookie in cookies))
    for socket in sockets:
        await socket.close()
    return dropped[0]


@pytest.fixture
def start_daphne(request, stack_env, tmp_path):
    """daphne on the test database, serving MEASURE_TREE (another checkout, to compare) or
    this one."""
    tree = Path(os.environ.get("MEASURE_TREE", REPO))
    started = []

    def start(**env: str) -> DaphneServer:
        log_path = tmp_path / "daphne.log"
        started.append(DaphneServer.start(env={**stack_env, **env}, log_path=log_path, tree=tree))
        attach_log(request.node, "daphne output", started[-1].log)
        return started[-1]

    yield start
    for server in started:
        server.stop()


async def test_cpu_seconds_per_connect(start_daphne, login_cookie, make_user, capsys):
    rooms = [
        await db(services.room_create)(name=f"Storm {n}", created_by=None) for n in range(ROOMS)
    ]
    users = [await db(make_user)() for _ in range(USERS)]
    cookies = [await db(login_cookie)(user) for user in users]
    daphne = start_daphne(SOCKETS_PER_USER=str(SOCKETS))
    process = psutil.Process(daphne.pid)
    room_url = f"{daphne.ws_url}/ws/chat/{rooms[0].slug}/"
    joins = [room.stream_name for room in rooms]
    # Warm up: imports, the hub, the first group joins.
    await storm(room_url, daphne.origin, cookies[:5], [])
    await storm(f"{daphne.ws_url}/ws/", daphne.origin, cookies[:5], joins)
    forms = [
        ("room", "one room", room_url, []),
        ("ws", f"/ws/ + {ROOMS} joins", f"{daphne.ws_url}/ws/", joins),
    ]
    wanted = os.environ.get("MEASURE_FORMS", "room,ws").split(",")
    for _form, label, url, join in [form for form in forms if form[0] in wanted]:
        # Between the forms: let presence announcements and closes settle.
        await asyncio.sleep(2)
        before = cpu_seconds(process)
        dropped = await storm(
            url, daphne.origin, [cookies[n % USERS] for n in range(SOCKETS)], join
        )
        spent = cpu_seconds(process) - before
        with capsys.disabled():
            sys.stdout.write(
                f"\n{label}: {SOCKETS} sockets, {1000 * spent / SOCKETS:.2f} ms CPU per connect"
                f" ({dropped} handshakes dropped and retried)\n"
            )
