"""A channel layer that fails: sockets are told (close 4503), and live delivery comes back.

Each test runs the application in this process on a Redis of its own, which it
kills, restarts empty on the same socket, or pauses. A client that is told 4503
reconnects, as static/js/stream.js does: here, until a handshake is answered
with `stream.ready`, a bounded number of times.
"""

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator

from project.asgi import application
from project.settings.base import channel_layers
from streams.hub import CLOSE_UNAVAILABLE
from tests.support.harness import websocket_headers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

RECONNECTS = 40


@pytest.fixture
def layer_redis(fresh_redis, settings):
    """The channel layer on a Redis of this test's own, with a short join timeout."""
    settings.CHANNEL_LAYERS = channel_layers(fresh_redis.url)
    settings.CHANNEL_LAYER_JOIN_TIMEOUT = 1
    yield fresh_redis
    if fresh_redis.running:
        fresh_redis.resume()


@pytest.fixture
def room_of(make_room, make_user, login_cookie):
    """A room and the cookie of someone in it."""
    ann = make_user(username="ann")
    return make_room(), login_cookie(ann)


async def open_socket(room, cookie) -> tuple[WebsocketCommunicator, dict]:
    """A socket on the room, and the first thing the server said on it."""
    headers = websocket_headers(origin="http://testserver", cookie=cookie)
    communicator = WebsocketCommunicator(application, f"/ws/chat/{room.slug}/", headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected, "the handshake was refused"
    return communicator, await communicator.receive_output(10)


def is_unavailable(output: dict) -> bool:
    return output == {"type": "websocket.close", "code": CLOSE_UNAVAILABLE}


def is_ready(output: dict) -> bool:
    return output["type"] == "websocket.send" and json.loads(output["text"])["type"] == (
        "stream.ready"
    )


async def reconnect_until_live(room, cookie) -> WebsocketCommunicator:
    """Open sockets until one is live, as a page does after 4503 (without its waits)."""
    for _attempt in range(RECONNECTS):
        communicator, first = await open_socket(room, cookie)
        if is_ready(first):
            return communicator
        assert is_unavailable(first), first
        await communicator.wait()
        await asyncio.sleep(0.5)  # the client's backoff, not a wait for a state
    raise AssertionError(f"still 4503 after {RECONNECTS} reconnects")


async def test_a_socket_opened_while_redis_is_down_is_closed_with_4503(layer_redis, room_of):
    room, cookie = room_of
    layer_redis.kill()
    communicator, first = await open_socket(room, cookie)
    assert is_unavailable(first), first


async def test_redis_lost_closes_open_sockets_with_4503_and_delivery_resumes_once_it_is_back(
    layer_redis, room_of
):
    room, cookie = room_of
    before, first = await open_socket(room, cookie)
    assert is_ready(first)

    layer_redis.kill()
    # The hub's receive fails: its socket is told, not left waiting for frames.
    while not is_unavailable(output := await before.receive_output(10)):
        assert output["type"] == "websocket.send", output
    # A socket on a room this process had joined is told too.
    during, first = await open_socket(room, cookie)
    assert is_unavailable(first), first

    # Redis comes back empty: the hub's group memberships are gone with it.
    layer_redis.restart()
    sender = await reconnect_until_live(room, cookie)
    listener = await reconnect_until_live(room, cookie)
    frame = {"type": "chat.send", "body": "back", "client_id": "b"}
    await sender.send_to(text_data=json.dumps(frame))
    while True:
        frame = json.loads(await listener.receive_from(10))
        if frame["type"] == "chat.message":
            break
    assert frame["message"]["body"] == "back"
    for communicator in (sender, listener):
        await communicator.disconnect()


async def test_a_socket_opened_while_redis_is_stalled_is_closed_with_4503(layer_redis, room_of):
    room, cookie = room_of
    layer_redis.pause()
    try:
        communicator, first = await open_socket(room, cookie)
        assert is_unavailable(first), first
    finally:
        layer_redis.resume()
    live = await reconnect_until_live(room, cookie)
    await live.disconnect()
