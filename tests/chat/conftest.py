"""Chat fixtures: rooms, and signed-in sockets on the real ASGI application."""

import json
from collections.abc import Callable

import pytest

from chat import services
from chat.protocol import PERSONAL, SERVER
from streams.personal import personal_events
from tests.support.sockets import socket_opener


@pytest.fixture
def make_room(db) -> Callable:
    counter = iter(range(1, 1000))

    def make(name: str | None = None, **kwargs):
        return services.room_create(
            name=name or f"Room {next(counter)}", created_by=kwargs.pop("created_by", None)
        )

    return make


@pytest.fixture
def no_send_limit(settings) -> None:
    """Lift the send, change and flood limits for tests that send hundreds of frames at once."""
    settings.CHAT_SEND_LIMIT = 1_000_000
    settings.CHAT_CHANGE_LIMIT = 1_000_000
    settings.WEBSOCKET_FLOOD_BURST = 1_000_000


@pytest.fixture
def connect(login_cookie) -> Callable:
    """`await connect(user, room, after=None)` -> a StreamClient past `stream.ready`."""
    open_socket = socket_opener(
        login_cookie, lambda user: SERVER, {"presence.state", "presence.diff", "chat.typing"}
    )

    async def open_room(user, room, **kwargs):
        slug = room if isinstance(room, str) else room.slug
        return await open_socket(user, f"/ws/chat/{slug}/", **kwargs)

    return open_room


@pytest.fixture
def personal(db) -> Callable:
    """`personal(user, "user.read")` -> the frames of that type in the user's personal
    stream, oldest first (all of them without a type), each checked against the protocol."""

    def frames(user, frame_type: str | None = None) -> list[dict]:
        stored = personal_events(user=user).order_by("seq").values_list("frame", flat=True)
        found = [json.loads(frame) for frame in stored]
        for frame in found:
            PERSONAL.check(frame)
        return [frame for frame in found if frame_type in (None, frame["type"])]

    return frames
