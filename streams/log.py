"""The stream log: the per-stream sequence, the events it numbers, and replay.

A stream is a row with a head counter (a chat room's `last_seq`, a liveblog
audience's seq). Every change to it is written, in the same transaction, as an
event row holding the exact frame clients receive, under the next seq. Only
after the transaction commits is the frame broadcast (streams/broadcast.py),
and the channel layer may drop it: the layer is a notification pipe, the event
log is the truth, and a client that misses a seq asks for everything after the
last one it applied.
"""

import json
from collections.abc import Callable
from typing import Any

from django.db import models

from .broadcast import broadcast_on_commit, encode
from .models import StreamEventBase

REPLAY_BATCH = 500


# region: stream-claim
def stream_claim(stream: models.Model, *, seq_field: str = "last_seq", **also: Any) -> int:
    """Lock the stream row and take its next seq (inside `transaction.atomic()`).

    Concurrent writers queue on the row lock, so seqs are gap-free and commit
    in order; a transaction that rolls back gives its seq back. `also` are
    further columns of the stream row to update in the same statement.
    """
    model = type(stream)
    head = model._default_manager.select_for_update().values_list(seq_field, flat=True)
    seq = head.get(pk=stream.pk) + 1
    model._default_manager.filter(pk=stream.pk).update(**{seq_field: seq}, **also)
    setattr(stream, seq_field, seq)
    return seq


# endregion


# region: stream-append
def stream_append(
    *,
    events: models.Manager,
    group: str,
    seq: int,
    frame: dict[str, Any],
    subject_id: int,
    **event_fields: Any,
) -> StreamEventBase:
    """Store `frame` as the event claimed as `seq`, and broadcast it after commit.

    `frame` is the whole outbound frame, its `seq` included.
    """
    text = encode(frame)
    event = events.create(
        seq=seq, type=frame["type"], subject_id=subject_id, frame=text, **event_fields
    )
    broadcast_on_commit(group, seq=seq, frame=text)
    return event


# endregion


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


def stream_replay(
    events: models.QuerySet, *, after: int, limit: int = REPLAY_BATCH
) -> list[tuple[int, str]]:
    """(seq, frame) of up to `limit` events after `after`, in seq order."""
    return list(events.filter(seq__gt=after).order_by("seq").values_list("seq", "frame")[:limit])
