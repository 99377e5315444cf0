"""A test socket on the real ASGI application whose every received frame is checked.

There is no waiting for a quiet socket here. A test shows that a frame did not
come by causing one that must come after it, and checking that is the next:
a later broadcast on the same stream (the same group, through the same layer,
so in order), or, after a command answered on this socket alone, a ping.
"""

import asyncio
import json
import weakref
from collections.abc import Callable

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from websockets.exceptions import ConnectionClosed

from project.asgi import application
from streams.schemas import Protocol
from tests.support.harness import websocket_headers


class PresenceView:
    """Who a socket says is here: its `presence.state`, changed by each `presence.diff`."""

    def __init__(self) -> None:
        self.refs: dict[str, dict] | None = None

    def apply(self, frame: dict) -> bool:
        """Take in `frame` if it is about presence; whether it was."""
        if frame["type"] == "presence.state":
            self.refs = {entry["ref"]: entry for entry in frame["refs"]}
        elif frame["type"] == "presence.diff":
            assert self.refs is not None, "a diff came before the state"
            for leave in frame["leaves"]:
                self.refs.pop(leave["ref"], None)
            self.refs.update((entry["ref"], entry) for entry in frame["joins"])
        else:
            return False
        return True

    @property
    def users(self) -> list[str] | None:
        """The usernames of the people here, each once, by display name then username."""
        if self.refs is None:
            return None
        people = {entry["username"]: entry for entry in self.refs.values()}
        return [
            person["username"]
            for person in sorted(
                people.values(), key=lambda p: (p["name"].casefold(), p["username"])
            )
        ]


PRESENCE = {"presence.state", "presence.diff"}


class StreamClient:
    """One socket on a stream. `events()` are frames with a seq; `ephemeral` frames are skipped."""

    def __init__(
        self, communicator: WebsocketCommunicator, protocol: Protocol, ephemeral: set[str]
    ) -> None:
        self.communicator = communicator
        self.protocol = protocol
        self.ephemeral = ephemeral
        self.ready_seq: int | None = None
        self.presence = PresenceView()

    async def send(self, frame) -> None:
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def receive(self, within: float = 5) -> dict:
        frame = json.loads(await self.communicator.receive_from(within))
        self.protocol.check(frame)
        self.presence.apply(frame)
        return frame

    async def here(self, users: list[str], within: float = 5) -> None:
        """Read frames (skipping ephemeral ones) until the socket's presence shows `users`."""
        while self.presence.users != users:
            frame = await self.receive(within)
            assert frame["type"] in self.ephemeral | PRESENCE, frame

    async def receive_type(self, *types: str, within: float = 5) -> dict:
        """The next frame of one of `types`, skipping ephemeral frames."""
        while True:
            frame = await self.receive(within)
            if frame["type"] in types:
                return frame
            assert frame["type"] in self.ephemeral, frame

    async def events(self, count: int, within: float = 10) -> list[dict]:
        """The next `count` stream events, skipping everything else."""
        found = []
        while len(found) < count:
            frame = await self.receive(within)
            if "seq" in frame and frame["type"] not in {"stream.ready", "pong"}:
                found.append(frame)
        return found

    async def ping(self) -> dict:
        """The pong: it comes after all this socket's earlier commands were answered, but a
        broadcast still in the channel layer may come after it."""
        await self.send({"type": "ping"})
        return await self.receive_type("pong")

    async def close(self) -> None:
        await self.communicator.disconnect()


# What each real server's socket says is here, kept across next_frame and next_presence.
_views: "weakref.WeakKeyDictionary[object, PresenceView]" = weakref.WeakKeyDictionary()


async def next_frame(socket, frame_type: str, within: float = 20, **match) -> dict:
    """From a real server's socket (websockets' asyncio client): the next frame of
    `frame_type` whose fields equal `match`, skipping the others (presence frames update
    what `next_presence` reads)."""
    view = _views.setdefault(socket, PresenceView())
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await socket.recv())
            view.apply(frame)
            if frame["type"] == frame_type and all(frame.get(k) == v for k, v in match.items()):
                return frame


async def next_presence(socket, users: list[str], within: float = 20) -> None:
    """From a real server's socket: read frames until its presence shows `users` (skipping
    the others)."""
    view = _views.setdefault(socket, PresenceView())
    async with asyncio.timeout(within):
        while view.users != users:
            view.apply(json.loads(await socket.recv()))


def closed_code(socket) -> int:
    """Read a real server's socket (websockets' sync client) until it closes: the close
    code, or 1006 if the server dropped the connection without one."""
    try:
        while True:
            socket.recv(timeout=10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else 1006


def socket_opener(login_cookie: Callable, protocol_for: Callable, ephemeral: set[str]) -> Callable:
    """`await open(user, path, after=None, expect=True, origin=...)` -> a StreamClient past
    `stream.ready`, or None when the socket is refused. `protocol_for(user)` picks the
    protocol the frames are checked against."""
    cookies: dict[int, str] = {}

    async def open_socket(user, path, *, after=None, expect=True, origin="http://testserver"):
        if user is not None and user.pk not in cookies:
            cookies[user.pk] = await database_sync_to_async(login_cookie)(user)
        if after is not None:
            path += f"?after={after}"
        # region: communicator-connect
        headers = websocket_headers(origin=origin, cookie=cookies.get(user.pk) if user else None)
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        assert connected is expect
        if not connected:
            return None
        # endregion
        protocol = await database_sync_to_async(protocol_for)(user)
        client = StreamClient(communicator, protocol, ephemeral)
        if after is None:
            client.ready_seq = (await client.receive_type("stream.ready"))["seq"]
        return client

    return open_socket
