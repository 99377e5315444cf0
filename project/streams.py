"""Streams: the per-stream sequence, the event log, replay and broadcast.

A stream is a row with a `last_seq` counter (a chat room, a liveblog audience).
Every change to it is written, in the same transaction, as an event row holding
the exact frame clients receive, under the next seq. Only after the transaction
commits is the frame handed to the channel layer, which may drop it: the layer
is a notification pipe, the event log is the truth, and a client that misses a
seq asks for everything after the last one it applied.
"""

import json
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import models, transaction

REPLAY_BATCH = 500


class StreamEventBase(models.Model):
    """One committed change to a stream, stored as the frame clients receive."""

    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=40)
    # The row the event is about (a message, a post): lets a later change
    # rewrite what earlier events say of it (redaction on delete).
    subject_id = models.PositiveBigIntegerField(db_index=True)
    frame = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["seq"]


def encode(frame: dict[str, Any]) -> str:
    """Serialise a frame once; every recipient gets the same text."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def stream_claim(stream: models.Model, *, seq_field: str = "last_seq", **also: Any) -> int:
    """Lock the stream row and take its next seq (inside `transaction.atomic()`).

    Concurrent writers queue on the row lock, so seqs are gap-free and commit
    in order; a transaction that rolls back gives its seq back. `also` are
    further columns of the stream row to update in the same statement.
    """
    model = stream.__class__
    head = model.objects.select_for_update().values_list(seq_field, flat=True).get(pk=stream.pk)
    seq = head + 1
    model.objects.filter(pk=stream.pk).update(**{seq_field: seq}, **also)
    setattr(stream, seq_field, seq)
    return seq


def stream_log(
    *,
    events: models.Manager,
    group: str,
    seq: int,
    event_type: str,
    subject_id: int,
    payload: dict[str, Any],
    **event_fields: Any,
) -> StreamEventBase:
    """Store the event claimed as `seq` and broadcast its frame after commit."""
    frame = encode({"type": event_type, "seq": seq, **payload})
    event = events.create(
        seq=seq, type=event_type, subject_id=subject_id, frame=frame, **event_fields
    )
    broadcast_on_commit(group, seq=seq, frame=frame)
    return event


def stream_redact(events: models.QuerySet, *, subject_id: int, field: str, value: Any) -> None:
    """Rewrite what earlier events say of a subject, e.g. a deleted message's body."""
    stream_rewrite(events, subject_id=subject_id, rewrite=lambda frame: {**frame, field: value})


def stream_rewrite(
    events: models.QuerySet, *, subject_id: int, rewrite: Callable[[dict], dict]
) -> None:
    """Replace every stored frame about a subject with `rewrite(frame)`, keeping its seq.

    A replay then never brings back what has since been deleted or hidden.
    """
    for event in events.filter(subject_id=subject_id):
        frame = rewrite(json.loads(event.frame))
        frame["seq"] = event.seq
        event.type = frame["type"]
        event.frame = encode(frame)
        event.save(update_fields=["type", "frame"])


def broadcast_on_commit(group: str, *, frame: str, seq: int | None = None) -> None:
    """Hand a frame to the channel layer once the current transaction commits.

    A rolled-back write therefore tells nobody. `seq=None` marks an ephemeral
    frame (presence, typing) that is not part of the stream.
    """
    event = {"type": "stream.event", "group": group, "seq": seq, "frame": frame}
    transaction.on_commit(lambda: broadcast(group, event))


def broadcast(group: str, event: dict[str, Any]) -> None:
    async_to_sync(get_channel_layer().group_send)(group, event)


def stream_events_after(
    events: models.QuerySet, *, after: int, limit: int = REPLAY_BATCH
) -> list[tuple[int, str]]:
    """(seq, frame) of up to `limit` events after `after`, in seq order."""
    return list(events.filter(seq__gt=after).order_by("seq").values_list("seq", "frame")[:limit])
