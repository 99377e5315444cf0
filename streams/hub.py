"""Fan-out once per process: one channel-layer subscriber for all of a process's stream sockets.

The usual Channels app puts every socket in the room's group, so a message to a
room of N sockets is N layer messages, N handler calls and N encodings. Here
each server process has one `Hub`, and it is the hub's one channel that is in
the group: a broadcast costs the layer one message per *process*, and the hub
hands the frame (encoded once, by the service that committed it) to each of
its local sockets that follow that stream.

A socket is known to the hub only as a `Member`: its id, its user, the stream
it is counted on, whether names are shown there, and a way to deliver to it.
The hub never looks inside a consumer.

The hub also keeps the process's presence: at each heartbeat it refreshes
the rows of all its sockets and sweeps the rows of processes that died, in two
statements however many streams (every message waits on the same database
thread), and renews its group memberships before the layer's group_expiry.
It coalesces presence changes: a socket joining a room is sent the room's
whole set once, then every socket one diff per room per flush, so a thousand
sockets joining at once cost each socket bytes in proportion to a thousand,
not to a thousand times a thousand.

Ordering is kept: a socket that is replaying from the database holds the live
frames the hub hands it, and sends them after its replay, minus what the
replay already covered (see StreamConsumer.deliver).

When the channel layer fails, the hub says so rather than let sockets wait for
frames that will not come: while its receive loop is failing it is not
`delivering`, the sockets it had are closed with CLOSE_UNAVAILABLE (their
clients resume from the event log when they come back), and once a receive
succeeds again it re-joins its groups (a restarted Redis has forgotten them)
before it counts as delivering.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

from asgiref.typing import WebSocketSendEvent
from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer
from django.conf import settings

from . import presence
from .broadcast import channel_layer, encode, tag
from .revocation import CLOSE_SESSION_ENDED, REVOKE, UNSUBSCRIBE, sessions_ended

logger = logging.getLogger(__name__)

# How long presence changes gather before one announcement goes out.
PRESENCE_COALESCE = 0.25

# The layer message carrying a presence.diff frame to every hub of a stream.
PRESENCE_DIFF = "presence.diff"

# How many group renewals a heartbeat has in flight at once.
RENEW_AT_ONCE = 50

# Sessions checked in one trip to the database by sessions_recheck.
RECHECK_CHUNK = 250

# Sent to every socket of a hub whose channel layer fails: reconnect later, and resume.
CLOSE_UNAVAILABLE = 4503

# The hub's own message to its channel: a receive that returns it proves the layer works.
PROBE = "hub.probe"
# Seconds a cancelled receive may take to end before it is sent a probe (Hub._next).
RECEIVE_CANCEL_GRACE = 0.5

# A delivery: the frame's seq (None for an ephemeral frame) and the ASGI message to send.
Deliver = Callable[[int | None, WebSocketSendEvent], Awaitable[None]]

_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """This process's hub (one per event loop and channel layer)."""
    loop = asyncio.get_running_loop()
    layer = channel_layer()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        hub = _hubs[loop] = Hub(layer)
    return hub


def _raise_if_cancelled(error: Exception | None = None) -> None:
    """Raise CancelledError if the running task is being cancelled.

    A cancelled wait on Redis can come out of channels_redis or redis-py as
    another error (a closed connection, a KeyError in its clean-up), or not at
    all, instead of as CancelledError. A loop that went on would then never
    end, and whoever cancelled it (a server shutting down, a test's event loop
    closing) would wait on it for ever. `error` is what surfaced instead, if
    anything did.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling() > 0:
        raise asyncio.CancelledError from error


@dataclass(eq=False, frozen=True, slots=True)
class Member:
    """What the hub knows of one socket's following of one stream.

    Compared by identity: each (socket, stream) is its own member. A socket
    that follows many streams (the multiplexed one) has one member for each,
    with the same `socket_id`. Slotted: an idle socket holds one for as long as
    it is open, and a dict per member would be most of its size.
    """

    socket_id: str
    # The signed-in user, or None for an anonymous socket.
    user: Any
    # The stream whose presence counts this socket, and whether names are shown on it.
    presence: str
    names: bool
    deliver: Deliver
    # The session the socket was opened with (None if anonymous), and how to
    # close it when that session or its rights end (streams/revocation.py).
    session: str | None = None
    revoke: Callable[[int], Awaitable[None]] | None = None
    # The stream's name, and the tag its frames carry to this socket (None: sent
    # as they are, on a socket that follows one stream).
    stream: str = ""
    tag: str | None = None
    # How the socket stops following the stream when the user may no longer
    # (subscriptions_revoke); None: it cannot be dropped alone.
    drop: Callable[[], Awaitable[None]] | None = None
    # Whether the presence group is told its count: the personal stream's row
    # only counts the socket towards the user's limit.
    announced: bool = True


@dataclass(eq=False)
class PresenceChange:
    """What changed on one named stream since the hub's last flush."""

    # ref -> user id of the sockets that joined; refs of those that left.
    joins: dict[str, int] = field(default_factory=dict)
    leaves: set[str] = field(default_factory=set)
    # This process's members that joined: each is sent the stream's state.
    newcomers: set[Member] = field(default_factory=set)


class SingleFlight:
    """Run each keyed coroutine once: callers that arrive meanwhile await the same outcome.

    A success is remembered until `forget(key)`; a failure is not, so the next
    caller tries again (and those already waiting see the error).
    """

    def __init__(self) -> None:
        self.flights: dict[Hashable, asyncio.Future[None]] = {}

    async def run(self, key: Hashable, action: Callable[[], Awaitable[None]]) -> None:
        flight = self.flights.get(key)
        if flight is not None:
            await asyncio.shield(flight)
            return
        flight = self.flights[key] = asyncio.get_running_loop().create_future()
        try:
            await action()
        except BaseException as error:
            del self.flights[key]
            flight.set_exception(error)
            flight.exception()  # retrieved: nobody else need be waiting
            raise
        flight.set_result(None)

    def forget(self, key: Hashable) -> None:
        self.flights.pop(key, None)


class Hub:
    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        # The hub's one channel on the layer, once started.
        self.channel = ""
        self.once = SingleFlight()
        self.groups: dict[str, set[Member]] = {}
        # Presence: stream -> this process's members on it; streams to announce.
        self.present: dict[str, set[Member]] = {}
        self.dirty: dict[str, bool] = {}
        # Streams that show names: what changed since the last flush; the members
        # still to be told the whole set, with the diffs that reached them first.
        self.changes: dict[str, PresenceChange] = {}
        self.awaiting: dict[Member, list[dict[str, Any]]] = {}
        self.flushing: asyncio.Task[None] | None = None
        self.tasks: list[asyncio.Task[None]] = []
        # Whether the receive loop's last attempt failed (see Health below).
        self.receive_failing = False

    # Sockets -----------------------------------------------------------------------

    # region: hub-attach
    async def attach(self, member: Member, groups: list[str]) -> None:
        """Deliver the frames of `groups` to `member` from now on (joined when this returns)."""
        await self.once.run("start", self._start)
        for group in groups:
            self.groups.setdefault(group, set()).add(member)
            await self.once.run(("join", group), partial(self._join, group))

    # endregion

    def detach(self, member: Member, groups: list[str]) -> None:
        for group in groups:
            members = self.groups.get(group)
            if members is not None:
                members.discard(member)
        # Empty groups are left at the next maintenance pass: a socket that
        # reconnects at once finds its group still joined.

    async def _start(self) -> None:
        channel = await self.layer.new_channel()
        self.tasks = [
            asyncio.create_task(self._receive(channel), name="hub receive"),
            asyncio.create_task(self._maintain(), name="hub maintenance"),
            asyncio.create_task(self._recheck_sessions(), name="hub session checks"),
        ]
        self.channel = channel

    # region: hub-join
    async def _join(self, group: str) -> None:
        # A stalled layer must not hold a socket's handshake for a whole socket_timeout.
        async with asyncio.timeout(settings.CHANNEL_LAYER_JOIN_TIMEOUT):
            await self.layer.group_add(group, self.channel)

    # endregion

    # region: hub-receive
    async def _receive(self, channel: str) -> None:
        while True:
            try:
                message = await self._next(channel)
            except Exception as error:
                _raise_if_cancelled(error)
                logger.exception("hub: receiving from the channel layer failed; retrying")
                await self._receive_failed()
                await asyncio.sleep(1)
                await self._probe()
                continue
            _raise_if_cancelled()
            if self.receive_failing and not await self._recovered():
                continue
            members = self.groups.get(message.get("group", ""))
            if not members:
                continue
            if message.get("type") == REVOKE:
                await self._revoke(members, message["code"], message.get("session"))
            elif message.get("type") == UNSUBSCRIBE:
                await self._unsubscribe(members, message["stream"])
            elif message.get("type") == PRESENCE_DIFF:
                await self._presence_diff(members, message)
            else:
                await self._deliver(members, message)

    # endregion

    # region: hub-deliver
    async def _deliver(self, members: set[Member], message: dict[str, Any]) -> None:
        seq, text = message["seq"], message["frame"]
        # One ASGI message per tag for every socket: the frame was encoded once,
        # at commit, and each tag is added once here (None: untagged).
        # Without a "bytes" key, which ASGI allows and channels' test client requires.
        outgoing: dict[str | None, WebSocketSendEvent] = {}
        for member in tuple(members):
            sent = outgoing.get(member.tag)
            if sent is None:
                sent = outgoing[member.tag] = cast(
                    WebSocketSendEvent, {"type": "websocket.send", "text": tag(text, member.tag)}
                )
            try:
                await member.deliver(seq, sent)
            except Exception:
                logger.exception("hub: a socket refused a frame")

    # endregion

    # Revocation ---------------------------------------------------------------------

    # region: hub-revoke
    async def _revoke(self, members: set[Member], code: int, session: str | None) -> None:
        """Close `members`' sockets (only those of `session`, if given) with `code`."""
        for member in tuple(members):
            if member.revoke is not None and session in (None, member.session):
                try:
                    await member.revoke(code)
                except Exception:
                    logger.exception("hub: closing a revoked socket failed")

    # endregion

    async def _unsubscribe(self, members: set[Member], stream: str) -> None:
        """Make `members`' sockets stop following `stream` (the user may no longer read it)."""
        for member in tuple(members):
            if member.stream == stream and member.drop is not None:
                try:
                    await member.drop()
                except Exception:
                    logger.exception("hub: dropping a revoked stream failed")

    async def _recheck_sessions(self) -> None:
        """Close the sockets whose session ended without a word reaching this hub.

        An expired session sends nothing, and a revocation sent while the layer
        was down never arrives: every SOCKET_SESSION_RECHECK seconds, each
        session this process has a socket of is tested as an HTTP request's is.
        """
        while True:
            await asyncio.sleep(settings.SOCKET_SESSION_RECHECK)
            try:
                await self.sessions_recheck()
            except Exception as error:
                _raise_if_cancelled(error)
                logger.exception("hub: checking sessions failed; retrying at the next interval")

    async def sessions_recheck(self) -> None:
        members = [
            member
            for group in self.groups.values()
            for member in group
            if member.user is not None and member.revoke is not None
        ]
        # A few hundred sessions a trip: the sync thread every message waits for
        # is held for a few statements at a time, never for a whole process's sockets.
        sessions = sorted({(member.user.pk, member.session or "") for member in members})
        ended: set[tuple[int, str | None]] = set()
        for start in range(0, len(sessions), RECHECK_CHUNK):
            chunk = {(pk, key or None) for pk, key in sessions[start : start + RECHECK_CHUNK]}
            ended |= await database_sync_to_async(sessions_ended)(chunk)
        for member in members:
            if (member.user.pk, member.session) in ended:
                await self._revoke({member}, CLOSE_SESSION_ENDED, None)

    # Health -------------------------------------------------------------------------

    @property
    def delivering(self) -> bool:
        """Whether frames broadcast now reach this hub's sockets."""
        return not self.receive_failing

    # region: hub-next
    async def _next(self, channel: str) -> dict[str, Any]:
        """The next message on the hub's channel; a cancel ends the wait, whatever the layer
        makes of it.

        channels_redis over redis-py can swallow a cancel and go on waiting for
        a message that may never come; whoever cancelled the hub (a server
        shutting down, an event loop closing) would then wait for ever. So the
        receive runs as its own task: on a cancel it is cancelled too, and if
        it still has not ended after RECEIVE_CANCEL_GRACE, it is sent a probe
        to return.
        """
        receiving = asyncio.ensure_future(self.layer.receive(channel))
        try:
            return await asyncio.shield(receiving)
        except asyncio.CancelledError:
            receiving.cancel()
            done, _ = await asyncio.wait([receiving], timeout=RECEIVE_CANCEL_GRACE)
            if not done:
                await self._probe()
                await asyncio.wait([receiving], timeout=RECEIVE_CANCEL_GRACE)
            if receiving.done() and not receiving.cancelled():
                receiving.exception()  # retrieved: the hub is stopping, whatever it was
            raise

    # endregion

    # region: hub-layer-failed
    async def _receive_failed(self) -> None:
        """Close every socket at the first failure: frames are being lost, and a client
        that resumes from the event log once the layer is back misses none of them."""
        if self.receive_failing:
            return
        self.receive_failing = True
        closing = cast(WebSocketSendEvent, {"type": "websocket.close", "code": CLOSE_UNAVAILABLE})
        members = {member for group in self.groups.values() for member in group}
        for member in members:
            try:
                if member.revoke is not None:
                    await member.revoke(CLOSE_UNAVAILABLE)
                else:
                    await member.deliver(None, closing)
            except Exception:
                logger.exception("hub: a socket could not be closed")

    # endregion

    async def _probe(self) -> None:
        """Give the receive loop something to receive, so that it notices the layer is back."""
        try:
            await self.layer.send(self.channel, {"type": PROBE})
        except Exception as error:
            _raise_if_cancelled(error)

    async def _recovered(self) -> bool:
        """After a failure, a receive came back: re-join the groups, then deliver again."""
        try:
            async with asyncio.timeout(settings.CHANNEL_LAYER_JOIN_TIMEOUT):
                for group in list(self.groups):
                    await self.layer.group_add(group, self.channel)
        except Exception as error:
            _raise_if_cancelled(error)
            logger.exception("hub: re-joining groups after a layer failure failed; retrying")
            await asyncio.sleep(1)
            await self._probe()
            return False
        self.receive_failing = False
        logger.info("hub: the channel layer is back")
        return True

    # Presence -----------------------------------------------------------------------

    async def present_join(self, *members: Member, stored: bool = False) -> None:
        """Count each member's socket on its presence stream (one write for them all; none if
        `stored`: their rows are written already)."""
        if not stored:
            await presence.presence_join(
                [(member.presence, member.socket_id, member.user) for member in members]
            )
        for member in members:
            self.present.setdefault(member.presence, set()).add(member)
            if not member.announced:
                continue
            if not member.names:
                self.announce(member.presence, False)
                continue
            change = self.changes.setdefault(member.presence, PresenceChange())
            # Told the whole set at the next flush; the diffs meanwhile wait for it.
            change.newcomers.add(member)
            self.awaiting[member] = []
            if member.user is not None:
                ref = presence.presence_ref(member.socket_id)
                change.joins[ref] = member.user.pk
            self._flush_soon()

    async def present_leave(self, *members: Member) -> None:
        """Stop counting each member's socket on its presence stream (one write for them all)."""
        for member in members:
            sockets = self.present.get(member.presence)
            if sockets is not None:
                sockets.discard(member)
            self.awaiting.pop(member, None)
        await presence.presence_leave_all([(m.presence, m.socket_id) for m in members])
        for member in members:
            if member.announced and member.names:
                self._left(member.presence, presence.presence_ref(member.socket_id))
            elif member.announced:
                self.announce(member.presence, False)

    def _left(self, stream: str, ref: str) -> None:
        change = self.changes.setdefault(stream, PresenceChange())
        change.joins.pop(ref, None)
        change.leaves.add(ref)
        change.newcomers = {m for m in change.newcomers if m in self.awaiting}
        self._flush_soon()

    def announce(self, stream: str, names: bool) -> None:
        """Send `stream`'s presence soon, together with whatever else changes meanwhile.

        A stream that shows names is told what changed; one that shows a count, the count.
        """
        if names:
            self.changes.setdefault(stream, PresenceChange())
        else:
            self.dirty[stream] = False
        self._flush_soon()

    def _flush_soon(self) -> None:
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        # Until nothing is left: a change made while announcing is announced in
        # the next round, since announce() starts no second flush meanwhile.
        while self.dirty or self.changes:
            await asyncio.sleep(PRESENCE_COALESCE)
            dirty, self.dirty = self.dirty, {}
            changes, self.changes = self.changes, {}
            for stream in dirty:
                try:
                    await presence.presence_announce(self.layer, stream=stream)
                except Exception:
                    logger.exception("hub: announcing presence on %s failed", stream)
            if changes:
                try:
                    await self._announce_changes(changes)
                except Exception:
                    logger.exception("hub: announcing presence changes failed; retrying")
                    self._retry(changes)

    async def _announce_changes(self, changes: dict[str, PresenceChange]) -> None:
        """Send the newcomers their streams' states, then every stream its diff.

        One trip to the database for all of them (presence.presence_frames). A
        state goes straight to its socket, not through the layer; the diffs
        that reached the socket before it waited, and follow it.
        """
        newcomers = {
            stream: [m for m in change.newcomers if m in self.awaiting]
            for stream, change in changes.items()
        }
        diffs = {
            stream: (change.joins, change.leaves)
            for stream, change in changes.items()
            if change.joins or change.leaves
        }
        states, frames = await database_sync_to_async(presence.presence_frames)(
            states=[stream for stream, members in newcomers.items() if members], diffs=diffs
        )
        for stream, members in newcomers.items():
            if stream in states:
                await self._send_state(members, encode(states[stream]))
        for stream, frame in frames.items():
            await self.layer.group_send(
                stream, {"type": PRESENCE_DIFF, "group": stream, "frame": encode(frame)}
            )

    def _retry(self, changes: dict[str, PresenceChange]) -> None:
        """Put back what a failed flush did not send, for the next round."""
        for stream, failed in changes.items():
            change = self.changes.setdefault(stream, PresenceChange())
            change.newcomers |= {m for m in failed.newcomers if m in self.awaiting}
            change.leaves |= failed.leaves - change.joins.keys()
            change.joins = {**failed.joins, **change.joins}
            for ref in change.leaves & failed.joins.keys():
                change.joins.pop(ref, None)

    async def _send_state(self, members: list[Member], text: str) -> None:
        for member in members:
            held = self.awaiting.pop(member, None)
            if held is None:  # left meanwhile
                continue
            await self._deliver({member}, {"seq": None, "frame": text})
            for message in held:
                await self._deliver({member}, message)

    async def _presence_diff(self, members: set[Member], message: dict[str, Any]) -> None:
        """A diff from some hub: to the sockets told their state (the others hold it), or,
        on a stream that shows only a count, a reason to count again."""
        named = set()
        for member in members:
            if member.presence != message["group"] or not member.announced:
                continue  # in the group for its stream's frames, or for its user's
            if not member.names:
                self.announce(member.presence, False)
            elif member not in self.present.get(member.presence, ()):
                continue  # not counted yet: the state it will be sent covers this
            elif member in self.awaiting:
                self.awaiting[member].append({"seq": None, "frame": message["frame"]})
            else:
                named.add(member)
        if named:
            await self._deliver(named, {"seq": None, "frame": message["frame"]})

    # Maintenance --------------------------------------------------------------------

    # region: hub-heartbeat
    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(settings.PRESENCE_HEARTBEAT)
            try:
                await self._renew_groups()
                await self._refresh_presence()
            except Exception as error:
                _raise_if_cancelled(error)
                logger.exception("hub: maintenance failed; retrying at the next heartbeat")

    # endregion

    # region: hub-renew-groups
    async def _renew_groups(self) -> None:
        """Re-join live groups before the layer's group_expiry; leave the empty ones.

        A few at a time, together: one at a time would take a round trip per
        group, and all at once would queue every message behind them.
        """
        calls = []
        for group, members in list(self.groups.items()):
            if members:
                calls.append(partial(self.layer.group_add, group, self.channel))
            else:
                del self.groups[group]
                self.once.forget(("join", group))
                calls.append(partial(self.layer.group_discard, group, self.channel))
        for start in range(0, len(calls), RENEW_AT_ONCE):
            await asyncio.gather(*(call() for call in calls[start : start + RENEW_AT_ONCE]))

    # endregion

    async def _refresh_presence(self) -> None:
        for stream in [stream for stream, members in self.present.items() if not members]:
            del self.present[stream]
        rows = {
            (member.presence, member.socket_id): member
            for members in self.present.values()
            for member in members
        }
        sockets = [
            (stream, socket_id, member.user.pk if member.user is not None else None)
            for (stream, socket_id), member in rows.items()
        ]
        restored, swept = await database_sync_to_async(presence.presence_refresh)(sockets)
        for stream, socket_id, _user_id in swept:
            self._swept(stream, presence.presence_ref(socket_id))
        for stream, socket_id, user_id in restored:
            member = rows[stream, socket_id]
            if not member.announced:
                continue
            if not member.names:
                self.announce(stream, False)
            elif user_id is not None:
                self.changes.setdefault(stream, PresenceChange()).joins[
                    presence.presence_ref(socket_id)
                ] = user_id
                self._flush_soon()

    def _swept(self, stream: str, ref: str) -> None:
        """A row of a process that stopped refreshing is gone: its stream is told, whether
        or not this process has sockets there."""
        members = self.present.get(stream)
        if members and not any(member.announced for member in members):
            return
        if members and not any(member.names for member in members):
            self.announce(stream, False)
        else:
            # A leave no socket can misread: a hub whose sockets count only counts again.
            self._left(stream, ref)
