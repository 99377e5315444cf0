# region: close-codes
"""The consumer every stream socket is built on: validation, replay, presence, limits.

Close codes this application sends (daphne allows 1000 and 3000-4999):

    4009  a frame over MAX_FRAME_BYTES reached the application
    4029  the connection kept sending faster than WEBSOCKET_FLOOD_RATE frames a second
    4401  no session signs this socket in: it never did, or its session ended
    4403  the user's rights changed: the page reloads, to be authorised anew
    4429  the user (or, signed out, the address) has SOCKETS_PER_USER (SOCKETS_PER_ADDRESS) open
    4503  live delivery is unavailable (the channel layer is failing): reconnect later
"""
# endregion

import asyncio
import json
import logging
import time
import uuid
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from asgiref.typing import WebSocketSendEvent
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError

from .broadcast import encode, outbox_use, tag
from .hub import CLOSE_UNAVAILABLE, Hub, Member, get_hub
from .limits import CLOSE_TOO_MANY_SOCKETS
from .log import REPLAY_BATCH, stream_heads, stream_replay, streams_replay
from .opening import Opening, sockets_open, trip
from .presence import presence_leave
from .proxies import scope_address
from .ratelimit import RateLimited
from .registry import Stream
from .revocation import CLOSE_RIGHTS_CHANGED, CLOSE_SESSION_ENDED, user_group
from .schemas import (
    TOO_DEEP,
    Error,
    ErrorCode,
    Frame,
    Pong,
    Protocol,
    ProtocolError,
    Ready,
    client_id_of,
    stream_of,
)

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
CLOSE_TOO_LARGE = 4009
CLOSE_FLOODING = 4029


# What services refuse with, each answered with its own error frame.
Refusal = ObjectDoesNotExist | PermissionDenied | ValidationError | RateLimited


def _as_protocol_error(
    error: Refusal, content: dict[str, Any], *, stream: str | None = None
) -> ProtocolError:
    """Turn a service's refusal into the error frame the protocol promises."""
    client_id = client_id_of(content)
    if isinstance(error, ObjectDoesNotExist):
        return ProtocolError("not_found", "No such item here.", client_id=client_id, stream=stream)
    if isinstance(error, PermissionDenied):
        detail = str(error) or "Not allowed."
        return ProtocolError("not_allowed", detail, client_id=client_id, stream=stream)
    if isinstance(error, RateLimited):
        detail = "Slow down a little."
        return ProtocolError("rate_limited", detail, client_id=client_id, stream=stream)
    too_long = any(e.code == "too_long" for e in error.error_list)
    code: ErrorCode = "too_long" if too_long else "invalid_frame"
    return ProtocolError(code, " ".join(error.messages), client_id=client_id, stream=stream)


def join_refusal(error: Exception, stream: str) -> ProtocolError:
    """Why a stream may not be followed, in the words of the resolver that refused it."""
    if isinstance(error, PermissionDenied):
        return ProtocolError("not_allowed", str(error) or "Not allowed.", stream=stream)
    return ProtocolError("not_found", str(error) or "No such stream.", stream=stream)


class Held:
    """The live frames a replaying subscription holds, oldest first: appended at the back,
    taken from the front. A list and a cursor, because every subscription has one for as
    long as its socket is open, nearly always empty, and an empty deque is a block of 64
    slots (over 600 bytes) where an empty list is 56."""

    __slots__ = ("frames", "first")

    def __init__(self) -> None:
        self.frames: list[tuple[int | None, WebSocketSendEvent]] = []
        self.first = 0

    def append(self, frame: tuple[int | None, WebSocketSendEvent]) -> None:
        self.frames.append(frame)

    def popleft(self) -> tuple[int | None, WebSocketSendEvent]:
        frame = self.frames[self.first]
        self.first += 1
        if self.first == len(self.frames):
            self.clear()
        return frame

    def clear(self) -> None:
        self.frames.clear()
        self.first = 0

    def __len__(self) -> int:
        return len(self.frames) - self.first


class Subscription:
    """One stream a socket follows: its member of the hub, and where its replay stands."""

    # Held for as long as the socket is open: no dict per subscription.
    __slots__ = ("stream", "member", "replayed_upto", "live", "held", "gone")

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.member: Member
        self.replayed_upto = 0
        # Live frames wait here while a replay is under way (see deliver()).
        self.live = False
        self.held = Held()
        # Set once the socket stops following it: a frame still on its way is dropped.
        self.gone = False


def replay_starts(requests: list[tuple[Stream, int | None]]) -> list[tuple[int, int, int, list]]:
    """For each (stream, after): where its replay starts (never past the head), where its
    first batch ends, the head, and that batch. Two queries, however many streams."""
    heads = stream_heads([stream.head() for stream, _after in requests])
    ranges = []
    for (stream, after), head in zip(requests, heads, strict=True):
        # An `after` beyond the head is not trusted: the replay starts at the head.
        start = head if after is None else min(after, head)
        ranges.append((stream.events(), start, min(head, start + REPLAY_BATCH)))
    batches = streams_replay(ranges)
    return [
        (start, cut, head, batch)
        for (_events, start, cut), head, batch in zip(ranges, heads, batches, strict=True)
    ]


def replays_start(asked: list[list[tuple[Stream, int | None]]]) -> list[list[tuple]]:
    """replay_starts for the streams of many sockets at once (streams/opening.py), in the
    same two queries."""
    starts = iter(replay_starts([request for requests in asked for request in requests]))
    return [[next(starts) for _request in requests] for requests in asked]


class StreamConsumer(AsyncJsonWebsocketConsumer):
    """A socket on streams: authorise, join, replay from `?after=`, then stream live.

    A one-stream socket (ChatConsumer, LiveblogConsumer) names its stream in
    `stream_name()`, from its URL, and its frames go out as they are; the
    multiplexed socket (MultiplexConsumer) follows many, each frame tagged with
    its stream's name. Either way a stream is resolved by its kind
    (streams/registry.py) and followed as a `Subscription`. Each inbound frame
    of type `a.b`, once `protocol` has validated it, is handled by the
    consumer's method `command_a_b` if it has one (`ping`, `stream.sync`), else
    by the stream's, called with the frame's fields.
    """

    protocol: Protocol
    # Whether an anonymous socket is closed with 4401 before its stream is resolved.
    sign_in_required = False
    # Whether frames carry the name of their stream (the multiplexed socket).
    tagged = False

    # region: stream-no-channel
    # The process's hub listens to the channel layer for every stream socket,
    # so a socket has no channel of its own (streams/hub.py): with no alias,
    # channels gives the consumer no layer and makes no channel for it.
    channel_layer_alias = None  # type: ignore[assignment]
    # endregion

    # Socket events -----------------------------------------------------------

    # region: stream-connect
    async def connect(self) -> None:
        """Called when the socket asks to open."""
        self.socket_id = uuid.uuid4().hex
        # What this socket's database work broadcasts is sent by the loop (broadcast.py).
        outbox_use()
        self.subscriptions: dict[str, Subscription] = {}
        self.hub: Hub | None = None
        # Once revoked, the socket is closing: nothing more is sent or handled.
        self.revoked = False
        # Per connection: WEBSOCKET_FLOOD_BURST frames at once, then WEBSOCKET_FLOOD_RATE a second.
        self.tokens = float(settings.WEBSOCKET_FLOOD_BURST)
        self.tokens_at = time.monotonic()
        try:
            after = self.requested_after()
        except ValueError:
            await self.close()
            return
        if self.sign_in_required and not self.user.is_authenticated:
            # Accepted, to close with a code the page understands: sign in again.
            await self.accept()
            await self.close(code=CLOSE_SESSION_ENDED)
            return
        # One trip, shared with the sockets opening meanwhile (streams/opening.py):
        # the stream resolved for this user, and the socket admitted on it.
        opening = Opening(self.stream_name(), self.socket_id, self.user, scope_address(self.scope))
        stream = await trip(sockets_open, opening)
        if isinstance(stream, Exception):  # no such stream, or not this user's to read
            await self.close()
            return
        if stream is None:  # one socket too many for this user (address)
            # Accepted first, so the client sees the code (a refused handshake is a bare 403).
            await self.accept()
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return
        self.hub = get_hub()
        # Join before replaying: an event committed during the replay is then
        # either in the replay or handed to us, never in neither.
        subscription = self.subscribe(stream)
        if not await self.join_hub([subscription], opening=True):
            return
        await self.accept()
        await self.replay({subscription: after})
        # Its presence row is the admission row, written in the opening's trip.
        await self.hub.present_join(subscription.member, stored=True)

    # endregion

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes (not when the server process dies)."""
        if self.hub is not None:
            await self.unsubscribe(*self.subscriptions.values())

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Called with each inbound frame: check it, then hand it to its command."""
        if self.revoked:
            return
        if not self.within_flood_limit():
            await self.close(code=CLOSE_FLOODING)
            return
        if text_data is None:
            await self.send_error(ProtocolError("invalid_frame", "Send JSON text, not binary."))
            return
        if len(text_data) > MAX_FRAME_BYTES // 4 and len(text_data.encode()) > MAX_FRAME_BYTES:
            await self.close(code=CLOSE_TOO_LARGE)
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_error(ProtocolError("invalid_json", "The frame is not valid JSON."))
            return
        except RecursionError:
            await self.send_error(ProtocolError("invalid_frame", TOO_DEEP))
            return
        await self.receive_json(content)

    # region: stream-receive-json
    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        stream = stream_of(content) if self.tagged else None
        try:
            subscription, frame = self.parse(content)
            await self.handle(subscription, frame)
        except ProtocolError as error:
            await self.send_error(error)
        except (ObjectDoesNotExist, PermissionDenied, ValidationError, RateLimited) as error:
            await self.send_error(_as_protocol_error(error, content, stream=stream))
        except Exception:
            # A failing command must not take the socket down with it. Nothing was
            # half-saved, so the client may retry it, with the same client_id.
            logger.exception("command %r failed", content.get("type"))
            detail, client_id = "Something went wrong; retry.", client_id_of(content)
            await self.send_error(
                ProtocolError("server_error", detail, client_id=client_id, stream=stream)
            )

    # endregion

    def parse(self, content: Any) -> tuple[Subscription | None, Frame]:
        """The frame as its model, and the subscription whose stream handles it (None: the
        consumer does)."""
        frame = self.protocol.parse(content)
        if self.handler(frame) is not None:
            return None, frame
        (subscription,) = self.subscriptions.values()
        return subscription, frame

    async def handle(self, subscription: Subscription | None, frame: Frame) -> None:
        """Call the frame's command, on the consumer or on its stream."""
        fields = frame.model_dump(exclude={"type"})
        if subscription is None:
            await self.handler(frame)(**fields)
            return
        command = getattr(subscription.stream, "command_" + frame.type.replace(".", "_"))
        await command(partial(self.send_on, subscription), **fields)

    def handler(self, frame: Frame) -> Any:
        return getattr(self, "command_" + frame.type.replace(".", "_"), None)

    # Client commands every stream socket speaks --------------------------------

    async def command_ping(self) -> None:
        """Keep-alive; the answer carries the head so a client notices a missed tail."""
        (subscription,) = self.subscriptions.values()
        (head,) = await database_sync_to_async(stream_heads)([subscription.stream.head()])
        await self.send_json(Pong(seq=head).model_dump())

    async def command_stream_sync(self, after: int, stream: str | None = None) -> None:
        """Resend every event of the stream after `after`: the client saw a gap."""
        await self.replay({self.followed(stream): after})

    # Frames from the hub ----------------------------------------------------

    async def deliver(
        self, subscription: Subscription, seq: int | None, outgoing: WebSocketSendEvent
    ) -> None:
        """Send a frame broadcast to a stream (its text was encoded once, at commit)."""
        if self.revoked or subscription.gone:
            return
        if not subscription.live:
            subscription.held.append((seq, outgoing))
        elif seq is None or seq > subscription.replayed_upto:
            await self.base_send(outgoing)

    async def revoke(self, code: int) -> None:
        """Close the socket: its session, or the rights it was opened with, ended."""
        if not self.revoked:
            self.revoked = True
            for subscription in self.subscriptions.values():
                subscription.held.clear()
            await self.close(code=code)

    async def drop(self, stream: str) -> None:
        """The user may no longer read `stream`: a socket on it alone is closed, to reload."""
        await self.revoke(CLOSE_RIGHTS_CHANGED)

    # Machinery -----------------------------------------------------------------

    # region: stream-dispatch
    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections before every message it
        # dispatches, a thread hop per recipient per broadcast. Layer events
        # never touch the database here, and every database call goes through
        # database_sync_to_async, which does that housekeeping itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # endregion

    def subscribe(self, stream: Stream) -> Subscription:
        """Follow `stream`: its subscription, and the member the hub will deliver it to."""
        subscription = Subscription(stream)
        signed_in = self.user.is_authenticated
        subscription.member = Member(
            socket_id=self.socket_id,
            user=self.user if signed_in else None,
            presence=stream.presence,
            names=stream.names,
            announced=stream.announced,
            deliver=partial(self.deliver, subscription),
            session=self.scope["session"].session_key if signed_in else None,
            revoke=self.revoke,
            stream=stream.name,
            tag=stream.name if self.tagged else None,
            drop=partial(self.drop, stream.name),
        )
        self.subscriptions[stream.name] = subscription
        return subscription

    async def unsubscribe(self, *subscriptions: Subscription) -> None:
        """Stop following streams: leave their groups and their presence."""
        assert self.hub is not None
        for subscription in subscriptions:
            subscription.gone = True
            subscription.held.clear()
            if self.subscriptions.get(subscription.stream.name) is subscription:
                del self.subscriptions[subscription.stream.name]
            self.hub.detach(subscription.member, self.groups_joined(subscription))
        await self.hub.present_leave(*(subscription.member for subscription in subscriptions))

    async def join_hub(self, subscriptions: list[Subscription], *, opening: bool) -> bool:
        """Attach to the hub; if it cannot deliver, close with CLOSE_UNAVAILABLE.

        A socket still opening is accepted first, so that the client reads a
        close code it can act on (a refused handshake is only an HTTP error to
        a browser).
        """
        assert self.hub is not None
        attached = await asyncio.gather(
            *(self.hub.attach(s.member, self.groups_joined(s)) for s in subscriptions),
            return_exceptions=True,
        )
        failed = [error for error in attached if isinstance(error, BaseException)]
        for error in failed:
            logger.error("joining the channel layer failed", exc_info=error)
        if not failed and self.hub.delivering:
            return True
        for subscription in subscriptions:
            subscription.gone = True
            self.subscriptions.pop(subscription.stream.name, None)
            self.hub.detach(subscription.member, self.groups_joined(subscription))
        if opening:
            self.hub = None
            # Its admission row would count against the user's socket limit for
            # PRESENCE_TTL, and a client reconnecting through an outage opens many.
            (first,) = subscriptions
            await presence_leave(stream=first.member.presence, socket_id=self.socket_id)
            await self.accept()
            await self.close(code=CLOSE_UNAVAILABLE)
        else:
            await self.revoke(CLOSE_UNAVAILABLE)
        return False

    def requested_after(self) -> int | None:
        values = parse_qs(self.scope.get("query_string", b"").decode()).get("after")
        if not values:
            return None
        after = int(values[-1])
        if after < 0:
            raise ValueError("after must not be negative")
        return after

    async def replay(self, afters: dict[Subscription, int | None]) -> None:
        """Send each stream's stored events after its `after` in order, then its `stream.ready`.

        Live frames that arrive meanwhile are held, then sent after it, minus
        those the replay already sent. The heads and first batches of all the
        streams are read together (replay_starts), and with those of the other
        sockets replaying at the same moment (streams/opening.py).
        """
        for subscription in afters:
            subscription.live = False
        try:
            starts = await trip(
                replays_start,
                [(subscription.stream, after) for subscription, after in afters.items()],
            )
            for subscription, start in zip(afters, starts, strict=True):
                await self.replay_stream(subscription, *start)
        finally:
            for subscription in afters:
                await self.go_live(subscription)

    # region: stream-replay
    async def replay_stream(
        self, subscription: Subscription, start: int, cut: int, head: int, batch: list
    ) -> None:
        """Send one stream's replay from `start`: its first batch (up to seq `cut`), read with
        the other streams', then the rest up to the head, then `stream.ready`."""
        upto = start
        for seq, frame in batch:
            await self.send_on(subscription, frame)
            upto = seq
        # Past the first batch, the rest a batch at a time.
        events, cursor = subscription.stream.events(), cut
        while cursor < head and not self.revoked:
            batch = await database_sync_to_async(stream_replay)(events, after=cursor)
            for seq, frame in batch:
                await self.send_on(subscription, frame)
                upto = seq
            if len(batch) < REPLAY_BATCH:
                break
            cursor = upto
        subscription.replayed_upto = max(subscription.replayed_upto, upto)
        await self.send_on(subscription, encode(Ready(seq=upto).model_dump()))
        await self.go_live(subscription)

    # endregion

    async def go_live(self, subscription: Subscription) -> None:
        """Send the frames held during the replay, but those it sent; then stream live."""
        while subscription.held:
            held_seq, outgoing = subscription.held.popleft()
            if held_seq is None or held_seq > subscription.replayed_upto:
                await self.base_send(outgoing)
        subscription.live = True

    @property
    def user(self) -> Any:
        """The socket's user (AnonymousUser when nobody is signed in), from AuthMiddlewareStack."""
        return self.scope["user"]

    def groups_joined(self, subscription: Subscription) -> list[str]:
        """The stream's group, the presence stream's when that is another one, and the user's."""
        member = subscription.member
        groups = [subscription.stream.group]
        if member.presence != subscription.stream.group:
            groups.append(member.presence)
        if member.user is not None:
            groups.append(user_group(member.user.pk))
        return groups

    def followed(self, stream: str | None) -> Subscription:
        """The subscription to `stream` (None: the socket's one stream); not_allowed if none."""
        if stream is None:
            (only,) = self.subscriptions.values()
            return only
        subscription = self.subscriptions.get(stream)
        if subscription is None:
            raise ProtocolError("not_allowed", "Join the stream first.", stream=stream)
        return subscription

    async def send_on(self, subscription: Subscription, text: str) -> None:
        """Send an encoded frame of the subscription's stream, tagged if the socket tags."""
        await self.send(text_data=tag(text, subscription.member.tag))

    # region: flood-limit
    def within_flood_limit(self) -> bool:
        now = time.monotonic()
        burst, rate = settings.WEBSOCKET_FLOOD_BURST, settings.WEBSOCKET_FLOOD_RATE
        self.tokens = min(burst, self.tokens + (now - self.tokens_at) * rate)
        self.tokens_at = now
        self.tokens -= 1
        return self.tokens >= 0

    # endregion

    async def send_error(self, error: ProtocolError) -> None:
        frame = Error(
            code=error.code, detail=error.detail, client_id=error.client_id, stream=error.stream
        )
        await self.send_json(frame.model_dump())

    # Hooks -------------------------------------------------------------------------

    def stream_name(self) -> str:
        """The name of the stream the socket follows from the moment it opens."""
        raise NotImplementedError
