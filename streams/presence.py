"""Presence: who has a socket open on a stream, across tabs and processes.

Each socket holds a row. Each process's hub (streams/hub.py) refreshes the
rows of all its sockets at every heartbeat, in one statement for all its
streams, and sweeps the rows that nobody refreshed, in one more: a process
that died stops refreshing, so its users disappear within PRESENCE_TTL +
PRESENCE_HEARTBEAT seconds, whatever happened to its sockets' disconnect
handlers.

On a stream that shows names, a socket is told the whole set once, when it
joins (`presence.state`), then only what changes (`presence.diff`): a storm
of N joins costs each socket O(N) bytes, not the O(N²) of sending everyone
the whole list at every change. Each socket is known there by a `ref` drawn
from its id, never the id itself. A stream that shows only a count sends the
count (`presence`), which is small whatever the number.
"""

import hashlib
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from people.selectors import person_cards_by_id

from .broadcast import encode, envelope
from .models import Presence
from .schemas import PresenceCount, PresenceDiff, PresenceJoin, PresenceLeave, PresenceState

# Socket ids per refresh statement: well under SQLite's 32,766 parameters, with their streams.
REFRESH_CHUNK = 5000


def fresh_after():
    return timezone.now() - timedelta(seconds=settings.PRESENCE_TTL)


def presence_ref(socket_id: str) -> str:
    """The socket as the other sockets on its stream know it: never its id, which no
    client but its own may learn."""
    return hashlib.sha256(socket_id.encode()).hexdigest()[:16]


def presence_count(*, stream: str) -> dict:
    """The presence frame of a stream that shows no names: how many people are here.

    A liveblog shows only a count: its readers do not see who else is reading.
    """
    rows = Presence.objects.filter(stream=stream, last_seen__gte=fresh_after())
    user_ids = set(rows.filter(user__isnull=False).values_list("user_id", flat=True))
    anonymous = rows.filter(user__isnull=True).count()
    return PresenceCount(count=len(user_ids) + anonymous).model_dump()


def presence_frames(
    *, states: Iterable[str], diffs: dict[str, tuple[dict[str, int], set[str]]]
) -> tuple[dict[str, dict], dict[str, dict]]:
    """The `presence.state` of each stream in `states`, and the `presence.diff` of each
    stream in `diffs` (stream -> (joined ref -> user id, left refs)).

    Two queries, however many streams: the fresh rows of the `states` streams,
    and the cards of every user they and the joins name.
    """
    states = list(states)
    rows = list(
        Presence.objects.filter(
            stream__in=states, user__isnull=False, last_seen__gte=fresh_after()
        ).values_list("stream", "socket_id", "user_id")
    )
    user_ids = {user_id for _stream, _socket, user_id in rows}
    user_ids.update(user_id for joins, _leaves in diffs.values() for user_id in joins.values())
    cards = person_cards_by_id(user_ids=user_ids) if user_ids else {}

    def join(ref: str, user_id: int) -> PresenceJoin | None:
        card = cards.get(user_id)
        if card is None:  # the user was deleted meanwhile
            return None
        return PresenceJoin(ref=ref, username=card.username, name=card.name, colour=card.colour)

    members: dict[str, list[tuple[str, int]]] = {stream: [] for stream in states}
    for stream, socket_id, user_id in rows:
        members[stream].append((presence_ref(socket_id), user_id))
    state_frames = {}
    for stream, refs in members.items():
        joins = sorted(
            (entry for ref, user_id in refs if (entry := join(ref, user_id)) is not None),
            key=lambda entry: (entry.name.casefold(), entry.username, entry.ref),
        )
        count = len({entry.username for entry in joins})
        state_frames[stream] = PresenceState(refs=joins, count=count).model_dump()
    diff_frames = {}
    for stream, (joined, left) in diffs.items():
        entries = [entry for ref, uid in joined.items() if (entry := join(ref, uid)) is not None]
        leaves = [PresenceLeave(ref=ref) for ref in sorted(left)]
        diff_frames[stream] = PresenceDiff(joins=entries, leaves=leaves).model_dump()
    return state_frames, diff_frames


def presences_write(sockets: list[tuple[str, str, Any]]) -> None:
    """Count each (stream, socket id, user) socket on its stream; user None for an anonymous one.

    One statement for them all: a tab that joins fifty rooms at once writes
    its fifty rows together, and so do the joins of many sockets that share a
    trip (streams/opening.py).
    """
    now = timezone.now()
    Presence.objects.bulk_create(
        [
            Presence(stream=stream, socket_id=socket_id, user=user, last_seen=now)
            for stream, socket_id, user in sockets
        ],
        update_conflicts=True,
        unique_fields=["stream", "socket_id"],
        update_fields=["user", "last_seen"],
    )


presence_join = database_sync_to_async(presences_write)


@database_sync_to_async
def presence_leave(*, stream: str, socket_id: str) -> None:
    Presence.objects.filter(stream=stream, socket_id=socket_id).delete()


@database_sync_to_async
def presence_leave_all(sockets: list[tuple[str, str]]) -> None:
    """Stop counting each (stream, socket id): a tab closing on fifty rooms, in one statement."""
    by_socket: dict[str, list[str]] = {}
    for stream, socket_id in sockets:
        by_socket.setdefault(socket_id, []).append(stream)
    rows = Q()
    for socket_id, streams in by_socket.items():
        rows |= Q(socket_id=socket_id, stream__in=streams)
    if by_socket:
        Presence.objects.filter(rows).delete()


async def presence_announce(layer, *, stream: str) -> None:
    """Broadcast a count-only stream's presence frame (from the event loop, not a worker thread)."""
    count = await database_sync_to_async(presence_count)(stream=stream)
    await layer.group_send(stream, envelope(stream, frame=encode(count)))


Row = tuple[str, str, Any]


def presence_refresh(sockets: list[Row]) -> tuple[list[Row], list[Row]]:
    """Keep one process's sockets fresh and sweep the rows nobody refreshes.

    `sockets` lists (stream, socket id, user id) of this process's sockets.
    Returns the rows restored (swept while this process stalled) and the rows
    swept (of any process), each as (stream, socket id, user id). Two
    statements, however many streams: one UPDATE of all of this process's
    rows (per REFRESH_CHUNK sockets), one sweep; and two more when a row must
    be restored. No transaction: each statement stands alone, and nothing
    holds a lock across them.
    """
    now = timezone.now()
    refreshed = 0
    for start in range(0, len(sockets), REFRESH_CHUNK):
        chunk = sockets[start : start + REFRESH_CHUNK]
        # The stream narrows the search to the (stream, socket_id) index.
        refreshed += Presence.objects.filter(
            stream__in={stream for stream, _id, _user in chunk},
            socket_id__in={socket_id for _stream, socket_id, _user in chunk},
        ).update(last_seen=now)
    restored: list[Row] = []
    if refreshed < len(sockets):
        restored = _restore(sockets, now=now)
    # region: presence-sweep
    # One statement for every stream: the rows no living process refreshed.
    # RETURNING (SQLite 3.35+, PostgreSQL) says which, for the leaves to announce.
    table = Presence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE last_seen < %s RETURNING stream, socket_id, user_id",
            [fresh_after()],
        )
        swept = [tuple(row) for row in cursor.fetchall()]
    # endregion
    return restored, swept  # type: ignore[return-value]


def _restore(sockets: list[Row], *, now: Any) -> list[Row]:
    """Write back the rows of `sockets` that another process swept while this one stalled."""
    existing = set(
        Presence.objects.filter(
            stream__in={stream for stream, _id, _user in sockets},
            socket_id__in={socket_id for _stream, socket_id, _user in sockets},
        ).values_list("stream", "socket_id")
    )
    missing = [row for row in sockets if (row[0], row[1]) not in existing]
    Presence.objects.bulk_create(
        [
            Presence(stream=stream, socket_id=socket_id, user_id=user_id, last_seen=now)
            for stream, socket_id, user_id in missing
        ],
        ignore_conflicts=True,
    )
    return missing
