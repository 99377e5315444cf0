"""The multiplexed socket, /ws/?after=<seq>: one socket per tab, following every stream it joins.

It opens on the user's personal stream (`user`, resumed from `?after=`), then
follows each stream the client joins (`stream.join`), each authorised on its
own: a refusal is an error naming the stream, and the socket and its other
streams carry on. Every frame of a stream carries that stream's name
(`"stream"`); otherwise the frames are the one-stream sockets' own, and a
stream's commands are handled by the same code (streams/registry.py).

Joins that arrive together are resolved and replayed together: a tab that
reconnects with fifty rooms reads them in a few queries, not fifty times a few.
"""

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from .consumers import StreamConsumer, Subscription, join_refusal
from .log import stream_heads
from .opening import presences_store, trip
from .personal import PERSONAL
from .registry import Stream, streams_resolve_each
from .schemas import (
    Error,
    Frame,
    Heads,
    Join,
    Leave,
    Left,
    Ping,
    Protocol,
    ProtocolError,
    StreamSync,
    client_id_of,
    stream_of,
)

logger = logging.getLogger(__name__)

# The socket's own frames; every other frame is a stream's command, and names its stream.
CLIENT = Protocol(Join, Leave, StreamSync, Ping)
# What the socket sends of its own; every other frame is a stream's, tagged with its name.
SERVER = Protocol(Heads, Left, Error)


def streams_resolve_all(asked: list[tuple[list[str], Any]]) -> list[list[Stream | Exception]]:
    """The streams each of many sockets' users asks for, resolved together."""
    resolved = iter(streams_resolve_each([(name, user) for names, user in asked for name in names]))
    return [[next(resolved) for _name in names] for names, _user in asked]


class MultiplexConsumer(StreamConsumer):
    protocol = CLIENT
    sign_in_required = True
    tagged = True

    # Socket events -------------------------------------------------------------

    async def connect(self) -> None:
        """Called when the socket asks to open: it opens on the personal stream."""
        # Joins not yet resolved (name -> after), and the task resolving them.
        self.joining: dict[str, int | None] = {}
        self.joiner: asyncio.Task[None] | None = None
        # A tab that reconnects rejoins all its streams at once: its first frames,
        # as many as it may follow streams, come on top of the flood limit's burst.
        self.allowance = settings.STREAMS_PER_SOCKET
        await super().connect()

    async def disconnect(self, code: int) -> None:
        if self.joiner is not None:
            self.joiner.cancel()
            await asyncio.gather(self.joiner, return_exceptions=True)
        await super().disconnect(code)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # Frames take effect in the order they came: only joins gather while
        # joins are being resolved, so a command follows the join before it.
        if not (isinstance(content, dict) and content.get("type") == "stream.join"):
            await self.joins_done()
        await super().receive_json(content, **kwargs)

    def parse(self, content: Any) -> tuple[Subscription | None, Frame]:
        """The socket's own frames as `protocol` says; any other names its stream, whose
        `commands` validate the rest of it."""
        if not isinstance(content, dict) or self.protocol.speaks(content.get("type")):
            return None, self.protocol.parse(content)
        client_id, name = client_id_of(content), content.get("stream")
        if not isinstance(content.get("type"), str):
            return None, self.protocol.parse(content)  # refused in the protocol's words
        if not isinstance(name, str):
            detail = "A stream's command needs the stream's name, a string 'stream'."
            raise ProtocolError("invalid_frame", detail, client_id=client_id)
        subscription = self.subscriptions.get(name)
        stream = subscription.stream if subscription is not None else None
        if stream is None or stream.commands is None:
            detail = "Join the stream first." if stream is None else stream.listen_only
            raise ProtocolError(
                "not_allowed", detail, client_id=client_id, stream=stream_of(content)
            )
        try:
            frame = stream.commands.parse({k: v for k, v in content.items() if k != "stream"})
        except ProtocolError as error:
            error.stream = name
            raise
        return subscription, frame

    def within_flood_limit(self) -> bool:
        if self.allowance > 0:
            self.allowance -= 1
            return True
        return super().within_flood_limit()

    # Client commands -------------------------------------------------------------

    async def command_stream_join(self, stream: str, after: int | None = None) -> None:
        """Follow `stream` from `after`: gathered with the joins that arrive meanwhile."""
        self.joining[stream] = after
        if self.joiner is None or self.joiner.done():
            self.joiner = asyncio.create_task(self.join_pending())

    async def join_pending(self) -> None:
        while self.joining and not self.revoked:
            wanted, self.joining = self.joining, {}
            try:
                await self.join(wanted)
            except Exception:
                logger.exception("joining %d streams failed", len(wanted))
                for name in wanted:
                    detail = "Something went wrong; join again."
                    await self.send_error(ProtocolError("server_error", detail, stream=name))

    async def join(self, wanted: dict[str, int | None]) -> None:
        """Follow each stream of `wanted` (name -> after) the user may: a few queries for all.

        A stream already followed is synced from its `after`.
        """
        syncs = {
            self.subscriptions[n]: after for n, after in wanted.items() if n in self.subscriptions
        }
        # region: mux-join
        new = [name for name in wanted if name not in self.subscriptions]
        # The personal stream is not one of STREAMS_PER_SOCKET.
        room = max(0, settings.STREAMS_PER_SOCKET + 1 - len(self.subscriptions))
        for name in new[room:]:
            detail = f"A socket follows at most {settings.STREAMS_PER_SOCKET} streams."
            await self.send_error(ProtocolError("not_allowed", detail, stream=name))
        # In one trip with the other sockets' joins (streams/opening.py).
        resolved = await trip(streams_resolve_all, (new[:room], self.user))
        joined: dict[Subscription, int | None] = {}
        for name, stream in zip(new[:room], resolved, strict=True):
            if isinstance(stream, Exception):
                await self.send_error(join_refusal(stream, name))
            else:
                joined[self.subscribe(stream)] = wanted[name]
        # Join before replaying, as a socket opening does (StreamConsumer.connect).
        if joined and not await self.join_hub(list(joined), opening=False):
            return
        if syncs or joined:
            await self.replay({**syncs, **joined})
        if joined:
            assert self.hub is not None
            members = [subscription.member for subscription in joined]
            # The rows of every socket joining meanwhile, in one statement.
            rows = [(member.presence, member.socket_id, member.user) for member in members]
            await trip(presences_store, rows)
            await self.hub.present_join(*members, stored=True)
        # endregion

    async def joins_done(self) -> None:
        """Wait until the joins asked for so far are followed (or refused)."""
        while self.joiner is not None and not self.joiner.done():
            await asyncio.shield(self.joiner)

    async def command_stream_leave(self, stream: str) -> None:
        """Stop following `stream`; answered with `stream.left`."""
        if stream == PERSONAL:
            raise ProtocolError("not_allowed", "The personal stream is never left.", stream=stream)
        await self.unsubscribe(self.followed(stream))
        await self.send_json(Left(stream=stream).model_dump())

    async def command_ping(self) -> None:
        """Keep-alive; the answer carries every followed stream's head."""
        subscriptions = list(self.subscriptions.values())
        heads = await database_sync_to_async(stream_heads)([s.stream.head() for s in subscriptions])
        names = [subscription.stream.name for subscription in subscriptions]
        await self.send_json(Heads(heads=dict(zip(names, heads, strict=True))).model_dump())

    # Frames from the hub -----------------------------------------------------------

    # region: mux-drop
    async def drop(self, stream: str) -> None:
        """The user may no longer read `stream`: stop following it, and say so."""
        subscription = self.subscriptions.get(stream)
        if subscription is None or self.revoked or stream == PERSONAL:
            return
        await self.unsubscribe(subscription)
        await self.send_json(Left(stream=stream, reason="not_allowed").model_dump())

    # endregion

    # Hooks -------------------------------------------------------------------------

    def stream_name(self) -> str:
        return PERSONAL
