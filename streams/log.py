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

from django.db import connections, models, router
from django.db.models import F, IntegerField, Value
from django.db.models.sql import UpdateQuery

from .broadcast import broadcast_on_commit, encode
from .models import StreamEventBase

REPLAY_BATCH = 500
# Streams read in one statement at most (SQLite allows 500 terms in a compound SELECT).
UNION_CHUNK = 200


# region: stream-claim
def stream_claim(stream: models.Model, *, seq_field: str = "last_seq", **also: Any) -> int:
    """Lock the stream row and take its next seq (inside `transaction.atomic()`).

    One statement, `UPDATE ... SET last_seq = last_seq + 1 ... RETURNING last_seq`:
    the update locks the row until the transaction ends, so concurrent writers
    queue on it, seqs are gap-free and commit in order; a transaction that rolls
    back gives its seq back. `also` are further columns of the stream row to
    update in the same statement.
    """
    rows = type(stream)._default_manager.filter(pk=stream.pk)
    seq = _update_returning(rows, seq_field, **{seq_field: F(seq_field) + 1}, **also)
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


def _update_returning(rows: models.QuerySet, field: str, **values: Any) -> Any:
    """UPDATE `rows` with `values` and return `field` of the row it changed (SQLite 3.35+,
    PostgreSQL): one statement where the ORM takes a SELECT and an UPDATE."""
    model = rows.model
    connection = connections[router.db_for_write(model)]
    query = rows.query.chain(UpdateQuery)
    assert isinstance(query, UpdateQuery)
    query.add_update_values(values)
    sql, params = query.get_compiler(connection=connection).as_sql()
    column = connection.ops.quote_name(model._meta.get_field(field).column)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {column}", params)
        row = cursor.fetchone()
    if row is None:
        raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
    return row[0]


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


def stream_heads(heads: list[tuple[models.QuerySet, str]]) -> list[int]:
    """The heads of many streams, in one query: each is (the row holding it, its column)."""
    parts = [
        rows.order_by()
        .annotate(replay_index=Value(n, IntegerField()))
        .values_list("replay_index", column)
        for n, (rows, column) in enumerate(heads)
    ]
    found = dict(_union(parts))
    return [found.get(n) or 0 for n in range(len(heads))]


def streams_replay(ranges: list[tuple[models.QuerySet, int, int]]) -> list[list[tuple[int, str]]]:
    """(seq, frame) of each stream's events with `after < seq <= upto`, in one query.

    `ranges` are (events, after, upto); bounding each range by seq rather than
    by a LIMIT lets one UNION read them all (a compound SELECT takes no LIMIT
    per part on SQLite). Seqs are gap-free, so a range of REPLAY_BATCH seqs is
    at most REPLAY_BATCH events.
    """
    parts = [
        events.filter(seq__gt=after, seq__lte=upto)
        .order_by()
        .annotate(replay_index=Value(n, IntegerField()))
        .values_list("replay_index", "seq", "frame")
        for n, (events, after, upto) in enumerate(ranges)
        if upto > after
    ]
    batches: list[list[tuple[int, str]]] = [[] for _ in ranges]
    for n, seq, frame in sorted(_union(parts)):
        batches[n].append((seq, frame))
    return batches


def _union(parts: list[models.QuerySet]) -> list[tuple]:
    rows: list[tuple] = []
    for start in range(0, len(parts), UNION_CHUNK):
        first, *others = parts[start : start + UNION_CHUNK]
        rows.extend(first.union(*others, all=True) if others else first)
    return rows
