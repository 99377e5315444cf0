"""Presence: who has a socket open on a stream, across tabs and processes.

Each socket holds a row refreshed by a heartbeat. A user is present while any
of their rows is fresh; a row whose process died goes stale and is swept by
the next heartbeat of any socket still on the stream, so a dead process's
users disappear within PRESENCE_TTL + PRESENCE_HEARTBEAT seconds.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from project.models import Presence
from project.streams import broadcast_on_commit, encode


def _fresh_after():
    return timezone.now() - timedelta(seconds=settings.PRESENCE_TTL)


def presence_snapshot(*, stream: str) -> dict:
    """The presence frame: distinct signed-in users, and the number of people."""
    rows = Presence.objects.filter(stream=stream, last_seen__gte=_fresh_after())
    users = sorted(set(rows.filter(user__isnull=False).values_list("user__username", flat=True)))
    anonymous = rows.filter(user__isnull=True).count()
    return {"type": "presence", "users": users, "count": len(users) + anonymous}


def _announce(stream: str) -> None:
    broadcast_on_commit(stream, frame=encode(presence_snapshot(stream=stream)))


def presence_join(*, stream: str, channel_name: str, user) -> None:
    with transaction.atomic():
        Presence.objects.update_or_create(
            stream=stream,
            channel_name=channel_name,
            defaults={"user": user if user.is_authenticated else None, "last_seen": timezone.now()},
        )
        _announce(stream)


def presence_leave(*, stream: str, channel_name: str) -> None:
    with transaction.atomic():
        deleted, _ = Presence.objects.filter(stream=stream, channel_name=channel_name).delete()
        if deleted:
            _announce(stream)


def presence_heartbeat(*, stream: str, channel_name: str, user) -> None:
    """Keep this socket fresh and sweep the sockets whose heartbeat stopped."""
    with transaction.atomic():
        now = timezone.now()
        refreshed = Presence.objects.filter(stream=stream, channel_name=channel_name).update(
            last_seen=now
        )
        if not refreshed:
            Presence.objects.create(
                stream=stream,
                channel_name=channel_name,
                user=user if user.is_authenticated else None,
                last_seen=now,
            )
        swept, _ = Presence.objects.filter(stream=stream, last_seen__lt=_fresh_after()).delete()
        if swept or not refreshed:
            _announce(stream)
