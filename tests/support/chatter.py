"""A chat client that behaves like the page (static/js/stream.js and chat.js), for fault tests.

It resumes with `?after=<last applied seq>`, applies each seq once and in
order (asking with `stream.sync` on a gap, or when a pong or `stream.ready`
names a later head), reconnects with backoff and jitter on any close or after
a silence, and keeps every send pending until its own `chat.message` comes
back: a pending send is sent again, with the same client_id, whenever the
socket is live again and after `server_error` or `rate_limited`. Unlike the
page it pings every second, so that a missed tail is noticed in a test's time.

What it saw is kept for the test to compare with the database: the messages
shown (id -> body, in the order applied), each seq applied, the client_ids
acknowledged, and the error and close codes it was given.

The clients run on an event loop of their own in a thread (`LoopThread`), so
that a test can drive them from sync code beside Playwright's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import json
import random
import ssl
import threading
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

BACKOFF_FIRST = 0.2
BACKOFF_MAX = 2.0
PING_EVERY = 1.0
SILENCE_LIMIT = 6.0
RETRY_AFTER = 0.5


def insecure_tls() -> ssl.SSLContext:
    """TLS to the topology's throwaway certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def login_cookie(base_url: str, username: str, password: str) -> str:
    """Sign in through the login form, as a person does; the Cookie header of the session."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=insecure_tls()),
        urllib.request.HTTPCookieProcessor(jar),
    )
    login = base_url + "/accounts/login/"
    opener.open(login, timeout=10).read()
    token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(login, data=form, headers={"Referer": login})
    opener.open(request, timeout=10).read()
    cookies = {cookie.name: cookie.value for cookie in jar}
    assert "sessionid" in cookies, f"{username} could not sign in"
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


class ChatClient:
    """One person's tab on one room."""

    def __init__(
        self, *, base_url: str, slug: str, username: str, cookie: str, applied: int
    ) -> None:
        self.ws_url = base_url.replace("https://", "wss://") + f"/ws/chat/{slug}/"
        self.origin = base_url
        self.username = username
        self.cookie = cookie
        self.applied = applied
        self.ahead: dict[int, dict] = {}
        self.syncing = False
        self.shown: dict[int, str] = {}
        self.applied_seqs: list[int] = []
        self.doubled: list[int] = []
        self.pending: dict[str, str] = {}
        self.acked: set[str] = set()
        self.refused: dict[str, str] = {}
        self.closes: list[int | None] = []
        self.errors: list[str] = []
        self.handshakes_failed = 0
        self.ws: ClientConnection | None = None
        self.live = False
        self.progress = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.stopping = False

    # Life ---------------------------------------------------------------------------

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name=f"chat client {self.username}")

    async def stop(self) -> None:
        self.stopping = True
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def run(self) -> None:
        attempt = 0
        while not self.stopping:
            try:
                async with connect(
                    f"{self.ws_url}?after={self.applied}",
                    origin=self.origin,  # type: ignore[arg-type]
                    additional_headers={"Cookie": self.cookie},
                    ssl=insecure_tls(),
                    open_timeout=10,
                    close_timeout=2,
                    ping_interval=None,
                ) as ws:
                    self.ws = ws
                    if await self.converse(ws):
                        attempt = 0
                    self.closes.append(ws.close_code)
            except (InvalidStatus, InvalidHandshake, OSError, TimeoutError):
                self.handshakes_failed += 1
            finally:
                self.ws = None
                self.live = False
                self.syncing = False
                self.changed()
            ceiling = min(BACKOFF_MAX, BACKOFF_FIRST * 2**attempt)
            attempt += 1
            await asyncio.sleep(ceiling / 2 + random.random() * ceiling / 2)  # noqa: S311

    async def converse(self, ws: ClientConnection) -> bool:
        """Read frames until the socket closes or falls silent; whether it was ever live."""
        pinger = asyncio.create_task(self.keep_pinging(ws))
        went_live = False
        try:
            while True:
                async with asyncio.timeout(SILENCE_LIMIT):
                    text = await ws.recv()
                await self.receive(json.loads(text))
                went_live = went_live or self.live
        except (ConnectionClosed, TimeoutError):
            return went_live
        finally:
            pinger.cancel()

    async def keep_pinging(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(PING_EVERY)
            await self.send(ws, {"type": "ping"})

    async def reconnect(self) -> None:
        """Drop the socket at once, as a dead network does; the client then resumes."""
        if self.ws is not None:
            self.ws.transport.abort()

    # Frames ---------------------------------------------------------------------------

    async def receive(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "stream.ready":
            self.syncing = False
            self.live = True
            if frame["seq"] > self.applied:
                await self.sync()
            for client_id in list(self.pending):
                await self.send_message(client_id)
        elif kind == "pong":
            if frame["seq"] > self.applied and not self.syncing:
                await self.sync()
        elif isinstance(frame.get("seq"), int):
            await self.sequence(frame)
        elif kind == "error":
            await self.refusal(frame)
        self.changed()

    async def sequence(self, frame: dict[str, Any]) -> None:
        if frame["seq"] <= self.applied:
            return
        self.ahead[frame["seq"]] = frame
        while self.applied + 1 in self.ahead:
            self.apply(self.ahead.pop(self.applied + 1))
        if self.ahead and not self.syncing:
            await self.sync()

    def apply(self, frame: dict[str, Any]) -> None:
        self.applied += 1
        self.applied_seqs.append(frame["seq"])
        if frame["type"] != "chat.message":
            return
        message = frame["message"]
        if message["id"] in self.shown:
            self.doubled.append(message["id"])
        self.shown[message["id"]] = message["body"]
        if message["author"] == self.username and message["client_id"] in self.pending:
            del self.pending[message["client_id"]]
            self.acked.add(message["client_id"])

    async def refusal(self, frame: dict[str, Any]) -> None:
        self.errors.append(frame["code"])
        client_id = frame.get("client_id")
        if client_id not in self.pending:
            return
        if frame["code"] in {"server_error", "rate_limited"}:
            asyncio.get_running_loop().call_later(
                RETRY_AFTER, lambda: asyncio.ensure_future(self.send_message(client_id))
            )
        else:
            self.refused[client_id] = self.pending.pop(client_id)

    # Commands ---------------------------------------------------------------------------

    def say(self, body: str) -> str:
        """Send a message now if live, else when live again; its client_id."""
        client_id = uuid.uuid4().hex
        self.pending[client_id] = body
        asyncio.ensure_future(self.send_message(client_id))
        return client_id

    async def send_message(self, client_id: str) -> None:
        body = self.pending.get(client_id)
        if body is not None and self.live and self.ws is not None:
            await self.send(self.ws, {"type": "chat.send", "body": body, "client_id": client_id})

    async def sync(self) -> None:
        if self.ws is not None:
            self.syncing = True
            await self.send(self.ws, {"type": "stream.sync", "after": self.applied})

    async def send(self, ws: ClientConnection, frame: dict[str, Any]) -> None:
        # A send on a closing socket is dropped: the reader sees the close and reconnects.
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(frame))

    # Waiting ---------------------------------------------------------------------------

    def changed(self) -> None:
        self.progress.set()

    async def until(self, predicate: Callable[[], bool], within: float, what: str) -> None:
        """Wait, frame by frame, until `predicate()` holds."""
        try:
            async with asyncio.timeout(within):
                while not predicate():
                    self.progress.clear()
                    await self.progress.wait()
        except TimeoutError:
            raise AssertionError(f"{self.username}: not {what} within {within} s: {self}") from None

    def __repr__(self) -> str:
        return (
            f"<ChatClient {self.username} applied={self.applied} live={self.live} "
            f"pending={len(self.pending)} ahead={sorted(self.ahead)} closes={self.closes}>"
        )


class LoopThread:
    """An event loop in a thread of its own: `call(coroutine)` runs it there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coroutine: Coroutine[Any, Any, Any], within: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(within)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
