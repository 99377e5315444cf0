"""Two daphne processes on one Redis: one conversation, one presence list.

Each process runs with a short presence heartbeat so that the bound on how
long a dead process's users linger (PRESENCE_TTL + PRESENCE_HEARTBEAT) is
seconds, not the production minute.
"""

import asyncio
import json
import os
import signal

import pytest
from websockets.asyncio.client import connect

from chat.services import room_create

HEARTBEAT, TTL = 1, 4
PRESENCE_BOUND = TTL + HEARTBEAT
ANSWER_TIMEOUT = 20

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]


@pytest.fixture
def people(make_user, login_cookie):
    ann, bob = make_user(username="ann"), make_user(username="bob")
    room = room_create(name="Across processes", created_by=ann)
    return room, login_cookie(ann), login_cookie(bob)


async def next_frame(socket, frame_type: str, within: float = ANSWER_TIMEOUT, **match) -> dict:
    """The next frame of `frame_type` whose fields equal `match`, skipping others."""
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] == frame_type and all(frame.get(k) == v for k, v in match.items()):
                return frame


@pytest.mark.timeout(90)
async def test_two_processes_share_the_room_and_presence(daphne_factory, fresh_redis, people):
    room, ann_cookie, bob_cookie = people
    env = {
        "REDIS_URL": fresh_redis.url,
        "PRESENCE_HEARTBEAT": str(HEARTBEAT),
        "PRESENCE_TTL": str(TTL),
    }
    first, second = daphne_factory(**env), daphne_factory(**env)
    path = f"/ws/chat/{room.slug}/"

    def socket(server, cookie):
        return connect(
            server.ws_url + path, origin=server.origin, additional_headers={"Cookie": cookie}
        )

    async with socket(first, ann_cookie) as ann, socket(second, bob_cookie) as bob:
        await next_frame(ann, "stream.ready")
        await next_frame(bob, "stream.ready")
        await next_frame(ann, "presence", users=["ann", "bob"])
        await next_frame(bob, "presence", users=["ann", "bob"])

        await ann.send(json.dumps({"type": "chat.send", "body": "from one", "client_id": "a1"}))
        assert (await next_frame(bob, "chat.message"))["message"]["body"] == "from one"
        await bob.send(json.dumps({"type": "chat.send", "body": "from two", "client_id": "b1"}))
        heard = await next_frame(ann, "chat.message", seq=2)
        assert heard["message"]["body"] == "from two"

        # The second process dies without running any disconnect handler.
        os.kill(second.pid, signal.SIGKILL)
        second.process.wait()
        await next_frame(ann, "presence", within=PRESENCE_BOUND + 2, users=["ann"])


@pytest.mark.timeout(60)
async def test_sigterm_with_sockets_open_stops_daphne_cleanly(daphne_factory, people):
    room, ann_cookie, _ = people
    server = daphne_factory()
    url = f"{server.ws_url}/ws/chat/{room.slug}/"
    async with connect(url, origin=server.origin, additional_headers={"Cookie": ann_cookie}) as ann:
        await next_frame(ann, "presence", users=["ann"])
        os.kill(server.pid, signal.SIGTERM)
        # The harness SIGKILLs a daphne still running after its stop timeout; a
        # graceful stop must end on its own, not hang on its consumers' cleanup,
        # and exit 0 (not crash in the interpreter's teardown: project/shutdown.py).
        returncode = await asyncio.to_thread(server.process.wait, 20)
    assert returncode == 0, server.log()
