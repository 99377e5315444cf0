"""The Redis channel layer under a live daphne: an idle socket stays open and keeps working.

redis-py's default socket_timeout (5 s) is shorter than the layer's blocking
receive; with it, an idle process loses its layer connection and daphne closes
every socket with 1011 a few seconds later. project.settings.base.channel_layers
sets a longer timeout, and this test holds a socket idle for 30 s to keep it so.
"""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.protocol import State

from chat.services import room_create
from tests.support.sockets import next_frame

IDLE_SECONDS = 30


@pytest.fixture
def room(user):
    return room_create(name="Quiet room", created_by=user)


@pytest.fixture
def cookies(user, make_user, login_cookie) -> tuple[str, str]:
    """Session cookies for two people: one who listens, one who speaks."""
    return login_cookie(user), login_cookie(make_user())


@pytest.mark.timeout(IDLE_SECONDS + 60)
async def test_an_idle_socket_survives_30_seconds_on_the_redis_layer(
    daphne_factory, fresh_redis, room, cookies
):
    server = daphne_factory(REDIS_URL=fresh_redis.url)
    url = f"{server.ws_url}/ws/chat/{room.slug}/"
    listener_cookie, speaker_cookie = cookies

    # No client-side pings either: the socket is silent from both ends (daphne's
    # own keepalive pings stay, as in production).
    async with connect(
        url, origin=server.origin, additional_headers={"Cookie": listener_cookie},
        ping_interval=None,
    ) as listener:  # fmt: skip
        await next_frame(listener, "stream.ready")

        await asyncio.sleep(IDLE_SECONDS)  # the behaviour under test, not a wait

        assert listener.state is State.OPEN
        await listener.send(json.dumps({"type": "ping"}))
        assert (await next_frame(listener, "pong"))["seq"] == 0

        # A broadcast reaches the idle socket through the layer.
        async with connect(
            url, origin=server.origin, additional_headers={"Cookie": speaker_cookie},
            ping_interval=None,
        ) as speaker:  # fmt: skip
            await next_frame(speaker, "stream.ready")
            await speaker.send(
                json.dumps({"type": "chat.send", "body": "still there?", "client_id": "c-1"})
            )
            message = await next_frame(listener, "chat.message")

    assert message["message"]["body"] == "still there?"
    assert message["seq"] == 1
