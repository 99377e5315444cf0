"""Broadcast: a frame is encoded once and handed to the channel layer after commit.

The layer is a notification pipe and may drop what it is given; the event log
is the truth (streams/log.py). Every layer message this project sends is built
by `envelope`, and every process's hub (streams/hub.py) reads exactly that shape.
"""

import asyncio
import json
import logging
import weakref
from collections import deque
from contextvars import ContextVar
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

logger = logging.getLogger(__name__)

# The layer message type the hubs listen for.
EVENT = "stream.event"


def channel_layer() -> BaseChannelLayer:
    """The default channel layer, which every process of this project has."""
    layer = get_channel_layer()
    if layer is None:
        raise ImproperlyConfigured("CHANNEL_LAYERS has no default layer.")
    return layer


def encode(frame: dict[str, Any]) -> str:
    """Serialise a frame once; every recipient gets the same text."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


# region: broadcast-tag
def tag(text: str, stream: str | None) -> str:
    """An encoded frame as the multiplexed socket sends it: with `"stream"` first.

    Text, not a dict: the frame was encoded once, at commit, and each process
    adds each tag once per message, for all the sockets that follow the stream.
    """
    if stream is None:
        return text
    return '{"stream":' + json.dumps(stream, ensure_ascii=False) + "," + text[1:]


# endregion


# region: broadcast-envelope
def envelope(group: str, *, frame: str, seq: int | None = None) -> dict[str, Any]:
    """The layer message carrying one encoded frame to every hub in `group`.

    `seq=None` marks an ephemeral frame (presence, typing) that is not part of
    the stream and is never replayed.
    """
    return {"type": EVENT, "group": group, "seq": seq, "frame": frame}


# endregion


# region: broadcast-on-commit
def broadcast_on_commit(group: str, *, frame: str, seq: int | None = None) -> None:
    """Hand a frame to the channel layer once the current transaction commits.

    A rolled-back write therefore tells nobody.
    """
    message = envelope(group, frame=frame, seq=seq)
    transaction.on_commit(lambda: broadcast(message))


# endregion


# region: broadcast-send
def broadcast(message: dict[str, Any]) -> None:
    """Send an envelope to its group now (from sync code: a service, after commit).

    Called by a socket's work on the database thread, it is handed to the
    socket's event loop instead (`Outbox`), and the thread goes on at once.
    """
    outbox = _outbox.get()
    if outbox is not None:
        outbox.post(message)
        return
    async_to_sync(channel_layer().group_send)(message["group"], message)


# endregion


# region: broadcast-outbox
class Outbox:
    """The envelopes committed by the database work of one event loop's sockets, sent to
    the layer by one task of that loop, one at a time, in the order they were committed.

    The sockets of a server process share one thread for their database work
    (channels' `database_sync_to_async`). A `group_send` made from that thread
    with `async_to_sync` waits until the event loop has run it, and every other
    socket's work waits behind it; under load the loop is busy, and the wait was
    a fifth of a send's time on the thread. Posting the envelope to the loop takes no
    wait, and the one task keeps the commit order of the thread. An envelope
    that cannot be sent is lost as the layer may lose any: the event log is the
    truth, and the clients resume from it.
    """

    # Envelopes waiting past this (the layer is stalled) are dropped, not held.
    LIMIT = 10_000

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: deque[dict[str, Any]] = deque()
        self.sending: asyncio.Task[None] | None = None

    def post(self, message: dict[str, Any]) -> None:
        """From any thread: send `message` after those posted before it."""
        self.loop.call_soon_threadsafe(self._add, message)

    def _add(self, message: dict[str, Any]) -> None:
        if len(self.waiting) >= self.LIMIT:
            logger.warning("broadcast: %d envelopes waiting; dropped one", len(self.waiting))
            return
        self.waiting.append(message)
        if self.sending is None or self.sending.done():
            self.sending = self.loop.create_task(self._send(), name="broadcast outbox")

    async def _send(self) -> None:
        layer = channel_layer()
        while self.waiting:
            message = self.waiting.popleft()
            try:
                await layer.group_send(message["group"], message)
            except Exception:
                logger.exception("broadcast: sending to %s failed", message["group"])


_outbox: ContextVar[Outbox | None] = ContextVar("outbox", default=None)
_outboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Outbox] = (
    weakref.WeakKeyDictionary()
)


def outbox_use() -> None:
    """From a socket's coroutine: what its database work broadcasts goes through the
    running loop's outbox (the work runs in a copy of this context)."""
    loop = asyncio.get_running_loop()
    outbox = _outboxes.get(loop)
    if outbox is None:
        outbox = _outboxes[loop] = Outbox(loop)
    _outbox.set(outbox)


# endregion
