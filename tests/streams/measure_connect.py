"""What a connect storm costs the server: CPU seconds per socket opened, on a live daphne.

Not a test (its name keeps it out of the suite's collection): a measurement,
run on its own, on the embedded default and on PostgreSQL + Redis:

    .venv/bin/pytest tests/streams/measure_connect.py -s
    TEST_STACK=postgres-redis .venv/bin/pytest tests/streams/measure_connect.py -s

Each run opens SOCKETS authenticated sockets (at most IN_FLIGHT handshakes at
once) into one room, then as many multiplexed sockets (/ws/) each joining
ROOMS rooms, and prints the daphne process's CPU seconds (user + system) per
socket until the last one's `stream.ready`. CPU seconds, not connects/s: they
hold on a machine shared with other work.
"""

import asyncio
import json

import psutil
import pytest

from chat import services
from tests.bench.client import open_lean
from tests.support.orm import db

pytestmark = [pytest.mark.django_db(transaction=True)]

SOCKETS = 500
IN_FLIGHT = 100
USERS = 50
ROOMS = 20


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def storm(url: str, origin: str, cookies: list[str], joins: list[str]) -> None:
    """Open a socket per cookie, IN_FLIGHT at a time; return once each has every
    `stream.ready` it asked for (one, and one per join)."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    sockets = []

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

            socket = await open_lean(url, origin=origin, cookie=cookie, on_text=on_text)
            sockets.append(socket)
            for name in joins:
                socket.send_text(json.dumps({"type": "stream.join", "stream": name}))
            await asyncio.wait_for(ready, 120)

    await asyncio.gather(*(one(cookie) for cookie in cookies))
    for socket in sockets:
        await socket.close()


async def test_cpu_seconds_per_connect(daphne_factory, login_cookie, make_user, capsys):
    rooms = [
        await db(services.room_create)(name=f"Storm {n}", created_by=None) for n in range(ROOMS)
    ]
    users = [await db(make_user)() for _ in range(USERS)]
    cookies = [await db(login_cookie)(user) for user in users]
    daphne = daphne_factory(SOCKETS_PER_USER=str(SOCKETS))
    process = psutil.Process(daphne.pid)
    room_url = f"{daphne.ws_url}/ws/chat/{rooms[0].slug}/"
    joins = [room.stream_name for room in rooms]
    # Warm up: imports, the hub, the first group joins.
    await storm(room_url, daphne.origin, cookies[:5], [])
    await storm(f"{daphne.ws_url}/ws/", daphne.origin, cookies[:5], joins)
    for label, url, join in (
        ("one room", room_url, []),
        (f"/ws/ + {ROOMS} joins", f"{daphne.ws_url}/ws/", joins),
    ):
        # Between the forms: let presence announcements and closes settle.
        await asyncio.sleep(2)
        before = cpu_seconds(process)
        await storm(url, daphne.origin, [cookies[n % USERS] for n in range(SOCKETS)], join)
        spent = cpu_seconds(process) - before
        with capsys.disabled():
            print(f"\n{label}: {SOCKETS} sockets, {1000 * spent / SOCKETS:.2f} ms CPU per connect")
