"""Chat fixtures: rooms, and signed-in sockets on the real ASGI application."""

import json
from collections.abc import Callable

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chat import services
from chat.protocol import SERVER
from project import consumers
from project.asgi import application


@pytest.fixture
def make_room(db) -> Callable:
    counter = iter(range(1, 1000))

    def make(name: str | None = None, **kwargs):
        return services.room_create(
            name=name or f"Room {next(counter)}", created_by=kwargs.pop("created_by", None)
        )

    return make


@pytest.fixture
def no_send_limit(monkeypatch) -> None:
    """Lift the send and flood limits for tests that send hundreds of messages at once."""
    monkeypatch.setattr(services, "SEND_LIMIT", 1_000_000)
    monkeypatch.setattr(consumers, "FLOOD_BURST", 1_000_000)


class ChatClient:
    """A signed-in socket on a room, whose every received frame is checked against the protocol."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.ready_seq: int | None = None

    async def send(self, frame) -> None:
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def receive(self, within: float = 5) -> dict:
        frame = json.loads(await self.communicator.receive_from(within))
        SERVER.check(frame)
        return frame

    async def receive_type(self, *types: str, within: float = 5) -> dict:
        """The next frame of one of `types`, skipping presence and typing frames."""
        while True:
            frame = await self.receive(within)
            if frame["type"] in types:
                return frame
            assert frame["type"] in {"presence", "chat.typing"}, frame

    async def events(self, count: int, within: float = 10) -> list[dict]:
        """The next `count` stream events (frames with a seq), skipping everything else."""
        found = []
        while len(found) < count:
            frame = await self.receive(within)
            if frame["type"].startswith("chat.message"):
                found.append(frame)
        return found

    async def nothing(self, within: float = 0.3) -> bool:
        return await self.communicator.receive_nothing(within)

    async def ping(self) -> dict:
        await self.send({"type": "ping"})
        return await self.receive_type("pong")

    async def close(self) -> None:
        await self.communicator.disconnect()


@pytest.fixture
def connect(login_cookie) -> Callable:
    """`await connect(user, room, after=None)` -> a ChatClient past its replay (`stream.ready`)."""
    cookies: dict[int, str] = {}

    async def open_socket(user, room, *, after=None, expect=True, origin="http://testserver"):
        if user is not None and user.pk not in cookies:
            cookies[user.pk] = await database_sync_to_async(login_cookie)(user)
        path = f"/ws/chat/{room if isinstance(room, str) else room.slug}/"
        if after is not None:
            path += f"?after={after}"
        headers = [(b"origin", origin.encode())]
        if user is not None:
            headers.append((b"cookie", cookies[user.pk].encode()))
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        assert connected is expect
        if not connected:
            return None
        client = ChatClient(communicator)
        if after is None:
            client.ready_seq = (await client.receive_type("stream.ready"))["seq"]
        return client

    return open_socket
