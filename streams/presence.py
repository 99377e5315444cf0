"""Presence: who has a socket open on a stream, across tabs and processes.

Each socket holds a row. Each process's hub (streams/hub.py) refreshes the
rows of all its sockets at every heartbeat, in one statement, and sweeps the
stream's rows that nobody refreshed: a process that died stops refreshing, so
its users disappear within PRESENCE_TTL + PRESENCE_HEARTBEAT seconds, whatever
happened to its sockets' disconnect handlers.
"""

from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from people.selectors import person_cards

from .broadcast import encode, envelope
from .models import Presence
from .schemas import Person, PresenceCount, PresenceNames

REFRESH_CHUNK = 500


def fresh_after():
    return timezone.now() - timedelta(seconds=settings.PRESENCE_TTL)


def presence_snapshot(*, stream: str, names: bool = True) -> dict:
    """The presence frame: the number of people, and who the signed-in users are if `names`.

    A liveblog shows only a count: its readers do not see who else is reading.
    """
    rows = Presence.objects.filter(stream=stream, last_seen__gte=fresh_after())
    user_ids = set(rows.filter(user__isnull=False).values_list("user_id", flat=True))
    anonymous = rows.filter(user__isnull=True).count()
    if not names:
        return PresenceCount(count=len(user_ids) + anonymous).model_dump()
    cards = person_cards(user_ids=user_ids)
    return PresenceNames(
        users=[card.username for card in cards],
        people=[Person(username=c.username, name=c.name, colour=c.colour) for c in cards],
        count=len(cards) + anonymous,
    ).model_dump()


@database_sync_to_async
def presence_join(sockets: list[tuple[str, str, Any]]) -> None:
    """Count each (stream, socket id, user) socket on its stream; user None for an anonymous one.

    One statement for them all: a tab that joins fifty rooms at once writes
    its fifty rows together.
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


async def presence_announce(layer, *, stream: str, names: bool) -> None:
    """Broadcast the stream's presence frame (from the event loop, not a worker thread)."""
    snapshot = await database_sync_to_async(presence_snapshot)(stream=stream, names=names)
    await layer.group_send(stream, envelope(stream, frame=encode(snapshot)))


def presence_refresh(sockets: dict[str, list[tuple[str, Any]]]) -> set[str]:
    """Keep one process's sockets fresh and sweep the rows nobody refreshes.

    `sockets` maps each stream to (socket id, user) of this process's sockets
    on it. Returns the streams whose presence changed (rows swept or restored).
    """
    changed = set()
    now = timezone.now()
    with transaction.atomic():
        for stream, entries in sockets.items():
            ids = [socket_id for socket_id, _user in entries]
            refreshed = 0
            for start in range(0, len(ids), REFRESH_CHUNK):
                chunk = ids[start : start + REFRESH_CHUNK]
                refreshed += Presence.objects.filter(stream=stream, socket_id__in=chunk).update(
                    last_seen=now
                )
            if refreshed < len(ids):
                # A row went missing (swept while this process stalled): restore it.
                existing = set(
                    Presence.objects.filter(stream=stream, socket_id__in=ids).values_list(
                        "socket_id", flat=True
                    )
                )
                Presence.objects.bulk_create(
                    [
                        Presence(
                            stream=stream,
                            socket_id=socket_id,
                            user=user,
                            last_seen=now,
                        )
                        for socket_id, user in entries
                        if socket_id not in existing
                    ]
                )
                changed.add(stream)
            # region: presence-sweep
            swept, _ = Presence.objects.filter(stream=stream, last_seen__lt=fresh_after()).delete()
            if swept:
                changed.add(stream)
            # endregion
    return changed
