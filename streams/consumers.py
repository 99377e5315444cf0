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

import json
import logging
import time
import uuid
from collections import deque
from typing import Any
from urllib.parse import parse_qs

from asgiref.typing import WebSocketSendEvent
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import models

from .broadcast import encode
from .hub import CLOSE_UNAVAILABLE, Hub, Member, get_hub
from .limits import CLOSE_TOO_MANY_SOCKETS, socket_admit_scope
from .log import REPLAY_BATCH, stream_replay
from .presence import presence_leave
from .ratelimit import RateLimited
from .revocation import CLOSE_SESSION_ENDED, user_group
from .schemas import (
    TOO_DEEP,
    Error,
    ErrorCode,
    Pong,
    Protocol,
    ProtocolError,
    Ready,
    client_id_of,
)

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 64 * 1024
CLOSE_TOO_LARGE = 4009
CLOSE_FLOODING = 4029


# What services refuse with, each answered with its own error frame.
Refusal = ObjectDoesNotExist | PermissionDenied | ValidationError | RateLimited


def _as_protocol_error(error: Refusal, content: dict[str, Any]) -> ProtocolError:
    """Turn a service's refusal into the error frame the protocol promises."""
    client_id = client_id_of(content)
    if isinstance(error, ObjectDoesNotExist):
        return ProtocolError("not_found", "No such item here.", client_id=client_id)
    if isinstance(error, PermissionDenied):
        return ProtocolError("not_allowed", str(error) or "Not allowed.", client_id=client_id)
    if isinstance(error, RateLimited):
        return ProtocolError("rate_limited", "Slow down a little.", client_id=client_id)
    too_long = any(e.code == "too_long" for e in error.error_list)
    code: ErrorCode = "too_long" if too_long else "invalid_frame"
    return ProtocolError(code, " ".join(error.messages), client_id=client_id)


class StreamConsumer(AsyncJsonWebsocketConsumer):
    """A socket on one stream: authorise, join, replay from `?after=`, then stream live.

    Subclasses declare `protocol` and implement `authorise`, `stream_group`,
    `stream_events` and `stream_head`; each inbound frame of type `a.b`, once
    its model has validated it, is handled by the method `command_a_b`, called
    with the frame's fields. Presence is counted on `presence_group()` (the
    stream's group unless a subclass says otherwise), with the users' names
    unless `presence_names` is false.
    """

    protocol: Protocol
    presence_names = True
    # Whether an anonymous socket is closed with 4401 before `authorise`.
    sign_in_required = False

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
        self.group: str | None = None
        self.member: Member | None = None
        self.hub: Hub | None = None
        self.replayed_upto = 0
        # Live frames wait here while a replay is under way (see deliver()).
        self.live = False
        self.held: deque[tuple[int | None, WebSocketSendEvent]] = deque()
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
        if not await self.authorise():
            await self.close()
            return
        # Join before replaying: an event committed during the replay is then
        # either in the replay or handed to us, never in neither.
        self.group = self.stream_group()
        self.member = Member(
            socket_id=uuid.uuid4().hex,
            user=self.user if self.user.is_authenticated else None,
            presence=self.presence_group(),
            names=self.presence_names,
            deliver=self.deliver,
            session=self.scope["session"].session_key if self.user.is_authenticated else None,
            revoke=self.revoke,
        )
        if not await socket_admit_scope(
            self.scope, stream=self.member.presence, socket_id=self.member.socket_id
        ):
            # Accepted first, so the client sees the code (a refused handshake is a bare 403).
            await self.accept()
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return
        self.hub = get_hub()
        if not await self.join_hub():
            return
        await self.accept()
        await self.replay(after)
        await self.hub.present_join(self.member)

    # endregion

    async def disconnect(self, code: int) -> None:
        """Called when the socket closes (not when the server process dies)."""
        if self.hub is not None and self.member is not None:
            self.hub.detach(self.member, self.groups_joined())
            await self.hub.present_leave(self.member)

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
        try:
            frame = self.protocol.parse(content)
            command = getattr(self, "command_" + frame.type.replace(".", "_"))
            await command(**frame.model_dump(exclude={"type"}))
        except ProtocolError as error:
            await self.send_error(error)
        except (ObjectDoesNotExist, PermissionDenied, ValidationError, RateLimited) as error:
            await self.send_error(_as_protocol_error(error, content))
        except Exception:
            # A failing command must not take the socket down with it. Nothing was
            # half-saved, so the client may retry it, with the same client_id.
            logger.exception("command %r failed", content.get("type"))
            await self.send_error(
                ProtocolError(
                    "server_error", "Something went wrong; retry.", client_id=client_id_of(content)
                )
            )

    # endregion

    # Client commands every stream speaks -------------------------------------

    async def command_ping(self) -> None:
        """Keep-alive; the answer carries the head so a client notices a missed tail."""
        head = await database_sync_to_async(self.stream_head)()
        await self.send_json(Pong(seq=head).model_dump())

    async def command_stream_sync(self, after: int) -> None:
        """Resend every event after `after`: the client saw a gap."""
        await self.replay(after)

    # Frames from the hub ----------------------------------------------------

    async def deliver(self, seq: int | None, outgoing: WebSocketSendEvent) -> None:
        """Send a frame broadcast to the stream (its text was encoded once, at commit)."""
        if self.revoked:
            return
        if not self.live:
            self.held.append((seq, outgoing))
        elif seq is None or seq > self.replayed_upto:
            await self.base_send(outgoing)

    async def revoke(self, code: int) -> None:
        """Close the socket: its session, or the rights it was opened with, ended."""
        if not self.revoked:
            self.revoked = True
            self.held.clear()
            await self.close(code=code)

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

    async def join_hub(self) -> bool:
        """Attach to the hub; if it cannot deliver, accept and close with CLOSE_UNAVAILABLE.

        Accepted first so that the client reads a close code it can act on (a
        refused handshake is only an HTTP error to a browser).
        """
        assert self.hub is not None and self.member is not None
        try:
            await self.hub.attach(self.member, self.groups_joined())
        except Exception:
            logger.exception("joining the channel layer failed")
            joined = False
        else:
            joined = self.hub.delivering
        if not joined:
            self.hub.detach(self.member, self.groups_joined())
            self.hub = None
            # Its admission row would count against the user's socket limit for
            # PRESENCE_TTL, and a client reconnecting through an outage opens many.
            await presence_leave(stream=self.member.presence, socket_id=self.member.socket_id)
            await self.accept()
            await self.close(code=CLOSE_UNAVAILABLE)
        return joined

    def requested_after(self) -> int | None:
        values = parse_qs(self.scope.get("query_string", b"").decode()).get("after")
        if not values:
            return None
        after = int(values[-1])
        if after < 0:
            raise ValueError("after must not be negative")
        return after

    # region: stream-replay
    async def replay(self, after: int | None) -> None:
        """Send the stored events after `after` in order, then `stream.ready`.

        Live frames that arrive meanwhile are held, then sent after it, minus
        those the replay already sent.
        """
        self.live = False
        try:
            events = self.stream_events()
            if after is None:
                upto = await database_sync_to_async(self.stream_head)()
            else:
                # An `after` beyond the head is not trusted: the replay starts at the head.
                upto, batch = await database_sync_to_async(self.replay_start)(events, after)
                while not self.revoked:
                    for seq, frame in batch:
                        await self.send(text_data=frame)
                        upto = seq
                    if len(batch) < REPLAY_BATCH:
                        break
                    batch = await database_sync_to_async(stream_replay)(events, after=upto)
            self.replayed_upto = max(self.replayed_upto, upto)
            await self.send(text_data=encode(Ready(seq=upto).model_dump()))
        finally:
            while self.held:
                held_seq, outgoing = self.held.popleft()
                if held_seq is None or held_seq > self.replayed_upto:
                    await self.base_send(outgoing)
            self.live = True

    # endregion

    def replay_start(self, events: models.QuerySet, after: int) -> tuple[int, list[Any]]:
        """Where a replay from `after` starts (never past the head), and its first batch."""
        start = min(after, self.stream_head())
        return start, stream_replay(events, after=start)

    @property
    def user(self) -> Any:
        """The socket's user (AnonymousUser when nobody is signed in), from AuthMiddlewareStack."""
        return self.scope["user"]

    def groups_joined(self) -> list[str]:
        """The stream's group, the presence stream's when that is another one, and the user's."""
        assert self.group is not None and self.member is not None
        groups = [self.group]
        if self.member.presence != self.group:
            groups.append(self.member.presence)
        if self.member.user is not None:
            groups.append(user_group(self.member.user.pk))
        return groups

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
        frame = Error(code=error.code, detail=error.detail, client_id=error.client_id)
        await self.send_json(frame.model_dump())

    # Hooks -------------------------------------------------------------------------

    async def authorise(self) -> bool:
        """May this socket open? Load the stream onto `self` if so."""
        raise NotImplementedError

    def stream_group(self) -> str:
        raise NotImplementedError

    def presence_group(self) -> str:
        """The group whose sockets are counted together (and told the count)."""
        return self.stream_group()

    def stream_events(self) -> models.QuerySet:
        raise NotImplementedError

    def stream_head(self) -> int:
        raise NotImplementedError
