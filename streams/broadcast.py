"""Broadcast: a frame is encoded once and handed to the channel layer after commit.

The layer is a notification pipe and may drop what it is given; the event log
is the truth (streams/log.py). Every layer message this project sends is built
by `envelope`, and every process's hub (streams/hub.py) reads exactly that shape.
"""

import json
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import BaseChannelLayer, get_channel_layer
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

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
    """Send an envelope to its group now (from sync code: a service, after commit)."""
    async_to_sync(channel_layer().group_send)(message["group"], message)


# endregion
