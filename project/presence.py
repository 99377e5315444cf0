"""Presence: who has a socket open on a stream, across tabs and processes.

Each socket holds a row refreshed by a heartbeat. A user is present while any
of their rows is fresh; a row whose process died goes stale and is swept by
the next heartbeat of any socket still on the stream, so a dead process's
users disappear within PRESENCE_TTL + PRESENCE_HEARTBEAT seconds.
"""

from datetime import timedelta

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from project.models import Presence
from project.streams import encode


def _fresh_after():
    return timezone.now() - timedelta(seconds=settings.PRESENCE_TTL)


def presence_snapshot(*, stream: str, names: bool = True) -> dict:
    """The presence frame: the number of people, and the signed-in users' names if `names`.

    A liveblog shows only a count: its readers do not see who else is reading.
    """
    rows = Presence.objects.filter(stream=stream, last_seen__gte=_fresh_after())
    users = sorted(set(rows.filter(user__isnull=False).values_list("user__username", flat=True)))
    anonymous = rows.filter(user__isnull=True).count()
    if not names:
        return {"type": "presence", "count": len(users) + anonymous}
    return {"type": "presence", "users": users, "count": len(users) + anonymous}


# These services are called from consumers, so they are async: the rows are
# written in a worker thread, and the snapshot is broadcast from the event loop
# once that commit is done. Broadcasting from the worker thread instead would
# block it on the event loop, which during a server shutdown has stopped.


async def _announce(stream: str, snapshot: dict | None) -> None:
    if snapshot is not None:
        event = {"type": "stream.event", "seq": None, "frame": encode(snapshot)}
        await get_channel_layer().group_send(stream, event)


async def presence_join(*, stream: str, channel_name: str, user, names: bool = True) -> None:
    snapshot = await database_sync_to_async(_join)(stream, channel_name, user, names)
    await _announce(stream, snapshot)


async def presence_leave(*, stream: str, channel_name: str, names: bool = True) -> None:
    await _announce(stream, await database_sync_to_async(_leave)(stream, channel_name, names))


async def presence_heartbeat(*, stream: str, channel_name: str, user, names: bool = True) -> None:
    """Keep this socket fresh and sweep the sockets whose heartbeat stopped."""
    snapshot = await database_sync_to_async(_beat)(stream, channel_name, user, names)
    await _announce(stream, snapshot)


def _join(stream: str, channel_name: str, user, names: bool) -> dict:
    Presence.objects.update_or_create(
        stream=stream,
        channel_name=channel_name,
        defaults={"user": user if user.is_authenticated else None, "last_seen": timezone.now()},
    )
    return presence_snapshot(stream=stream, names=names)


def _leave(stream: str, channel_name: str, names: bool) -> dict | None:
    deleted, _ = Presence.objects.filter(stream=stream, channel_name=channel_name).delete()
    return presence_snapshot(stream=stream, names=names) if deleted else None


def _beat(stream: str, channel_name: str, user, names: bool) -> dict | None:
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
    return presence_snapshot(stream=stream, names=names) if swept or not refreshed else None
