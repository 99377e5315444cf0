"""Fan-out once per process: one channel-layer subscriber for all of a process's stream sockets.

The usual Channels app puts every socket in the room's group, so a message to a
room of N sockets is N layer messages, N handler calls and N encodings. Here
each server process has one `Hub`, and it is the hub's one channel that is in
the group: a broadcast costs the layer one message per *process*, and the hub
writes the frame (encoded once, by the service that committed it) straight to
each of its local sockets that follow that stream.

The hub also keeps the process's presence: it refreshes the rows of all its
sockets in one statement per heartbeat (not one write per socket), sweeps the
rows of processes that died, renews its group memberships before the layer's
group_expiry, and coalesces presence announcements, so a thousand sockets
joining at once send a handful of presence frames, not a thousand.

Ordering is kept: a socket that is replaying from the database holds the live
frames the hub hands it, and sends them after its replay, minus what the
replay already covered (see StreamConsumer.deliver).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from project import presence

if TYPE_CHECKING:
    from project.consumers import StreamConsumer

logger = logging.getLogger(__name__)

# How long presence changes gather before one announcement goes out.
PRESENCE_COALESCE = 0.25

_hubs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """This process's hub (one per event loop and channel layer)."""
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        hub = _hubs[loop] = Hub(layer)
    return hub


class Hub:
    def __init__(self, layer) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.starting: asyncio.Future | None = None
        self.groups: dict[str, set[StreamConsumer]] = {}
        self.joined: dict[str, asyncio.Future] = {}
        # Presence: stream -> this process's sockets on it; streams to announce.
        self.present: dict[str, set[StreamConsumer]] = {}
        self.dirty: dict[str, bool] = {}
        self.flushing: asyncio.Task | None = None
        self.tasks: list[asyncio.Task] = []

    # Sockets -----------------------------------------------------------------------

    async def attach(self, consumer: StreamConsumer, groups: list[str]) -> None:
        """Deliver the frames of `groups` to `consumer` from now on (joined when this returns)."""
        await self._start()
        for group in groups:
            self.groups.setdefault(group, set()).add(consumer)
            await self._join(group)

    def detach(self, consumer: StreamConsumer, groups: list[str]) -> None:
        for group in groups:
            members = self.groups.get(group)
            if members is not None:
                members.discard(consumer)
        # Empty groups are left at the next maintenance pass: a socket that
        # reconnects at once finds its group still joined.

    async def _start(self) -> None:
        if self.channel is not None:
            return
        if self.starting is None:
            starting = self.starting = asyncio.get_running_loop().create_future()
            try:
                channel = await self.layer.new_channel()
            except BaseException as error:
                # The next socket tries again; those waiting now see this error.
                self.starting = None
                starting.set_exception(error)
                starting.exception()
                raise
            self.tasks = [
                asyncio.create_task(self._receive(channel), name="hub receive"),
                asyncio.create_task(self._maintain(), name="hub maintenance"),
            ]
            self.channel = channel
            self.starting.set_result(None)
        else:
            await asyncio.shield(self.starting)

    async def _join(self, group: str) -> None:
        joined = self.joined.get(group)
        if joined is None:
            joined = self.joined[group] = asyncio.get_running_loop().create_future()
            try:
                await self.layer.group_add(group, self.channel)
            except BaseException as error:
                del self.joined[group]
                joined.set_exception(error)
                joined.exception()  # retrieved: nobody else need be waiting
                raise
            joined.set_result(None)
        else:
            await asyncio.shield(joined)

    async def _receive(self, channel: str) -> None:
        while True:
            try:
                event = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub: receiving from the channel layer failed; retrying")
                await asyncio.sleep(1)
                continue
            members = self.groups.get(event.get("group"))
            if members:
                await self._deliver(members, event)

    async def _deliver(self, members: set[StreamConsumer], event: dict[str, Any]) -> None:
        seq = event["seq"]
        # One message object for every socket: the frame was encoded once, at commit.
        outgoing = {"type": "websocket.send", "text": event["frame"]}
        for consumer in tuple(members):
            try:
                await consumer.deliver(seq, outgoing)
            except Exception:
                logger.exception("hub: a socket refused a frame")

    # Presence -----------------------------------------------------------------------

    async def present_join(self, consumer: StreamConsumer) -> None:
        await presence.presence_join(
            stream=consumer.presence, socket_id=consumer.socket_id, user=consumer.scope["user"]
        )
        self.present.setdefault(consumer.presence, set()).add(consumer)
        self.announce(consumer.presence, consumer.presence_names)

    async def present_leave(self, consumer: StreamConsumer) -> None:
        sockets = self.present.get(consumer.presence)
        if sockets is not None:
            sockets.discard(consumer)
        await presence.presence_leave(stream=consumer.presence, socket_id=consumer.socket_id)
        self.announce(consumer.presence, consumer.presence_names)

    def announce(self, stream: str, names: bool) -> None:
        """Send `stream`'s presence soon, together with whatever else changes meanwhile."""
        self.dirty[stream] = names
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(PRESENCE_COALESCE)
        dirty, self.dirty = self.dirty, {}
        for stream, names in dirty.items():
            try:
                await presence.presence_announce(self.layer, stream=stream, names=names)
            except Exception:
                logger.exception("hub: announcing presence on %s failed", stream)

    # Maintenance --------------------------------------------------------------------

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(settings.PRESENCE_HEARTBEAT)
            try:
                await self._renew_groups()
                await self._refresh_presence()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("hub: maintenance failed; retrying at the next heartbeat")

    async def _renew_groups(self) -> None:
        """Re-join live groups before the layer's group_expiry; leave the empty ones."""
        for group, members in list(self.groups.items()):
            if members:
                await self.layer.group_add(group, self.channel)
            else:
                del self.groups[group]
                self.joined.pop(group, None)
                await self.layer.group_discard(group, self.channel)

    async def _refresh_presence(self) -> None:
        sockets = {
            stream: [(c.socket_id, c.scope["user"]) for c in consumers]
            for stream, consumers in self.present.items()
            if consumers
        }
        names = {
            stream: next(iter(consumers)).presence_names
            for stream, consumers in self.present.items()
            if consumers
        }
        for stream in [stream for stream, consumers in self.present.items() if not consumers]:
            del self.present[stream]
        changed = await database_sync_to_async(presence.presence_refresh)(sockets)
        for stream in changed:
            self.announce(stream, names[stream])
