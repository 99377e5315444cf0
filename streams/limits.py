"""Limits on open sockets, counted on the presence rows every process shares.

A socket is counted from the moment it is admitted (its presence row is
written before it joins) until its row goes: on disconnect, or, when its
process dies without running disconnect, once no hub refreshes it for
PRESENCE_TTL seconds. So a killed process leaks nothing for longer than
presence itself does, and every process counts the same rows.
"""

from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from .models import Presence
from .presence import fresh_after

CLOSE_TOO_MANY_SOCKETS = 4429


@dataclass(frozen=True)
class Admission:
    """A socket asking to be counted: on the presence row of `stream`, as `user` (None:
    anonymous, counted by `address`)."""

    stream: str
    socket_id: str
    user: Any
    address: str


# region: socket-admit
def sockets_admit(admissions: list[Admission]) -> list[bool]:
    """Count the sockets opening; False (and not counted) for each one too many.

    A signed-in user may hold SOCKETS_PER_USER sockets at once, anonymous
    sockets from one address SOCKETS_PER_ADDRESS. The rows of all the sockets
    opening together are written (one statement) before the counts are read
    (one per kind): sockets opening at the same moment, here or on another
    process, each see the others, and none slips past the limit (at worst all
    of them are refused). No transaction: the rows must be visible to the
    other processes' counts before ours are read.
    """
    now = timezone.now()
    # A new socket id each time: its row cannot exist yet (the hub updates it on join).
    Presence.objects.bulk_create(
        [
            Presence(
                stream=a.stream,
                socket_id=a.socket_id,
                user=a.user,
                address=a.address or None,
                last_seen=now,
            )
            for a in admissions
        ]
    )
    open_now = _sockets_open(admissions)
    # Of each user's (address's) new sockets, the first ones fill what the others left.
    new = Counter(_holder(a) for a in admissions)
    room = {holder: _limit(holder) - (open_now.get(holder, 0) - n) for holder, n in new.items()}
    admitted = []
    for admission in admissions:
        holder = _holder(admission)
        admitted.append(room[holder] > 0)
        room[holder] -= 1
    refused = [a.socket_id for a, ok in zip(admissions, admitted, strict=True) if not ok]
    if refused:
        Presence.objects.filter(socket_id__in=refused).delete()
    return admitted


# endregion


def _holder(admission: Admission) -> tuple[str, Any]:
    """Whose sockets this one counts with: its user's, or, anonymous, its address's."""
    if admission.user is not None:
        return "user", admission.user.pk
    # As the column stores it (an IPv6 address compressed), to match the counts read back.
    return "address", Presence._meta.get_field("address").get_prep_value(admission.address or None)


def _limit(holder: tuple[str, Any]) -> int:
    return settings.SOCKETS_PER_USER if holder[0] == "user" else settings.SOCKETS_PER_ADDRESS


def _sockets_open(admissions: list[Admission]) -> dict[tuple[str, Any], int]:
    """The fresh sockets of each holder of `admissions` (theirs included), one query a kind."""
    fresh = Presence.objects.filter(last_seen__gte=fresh_after())
    users = {a.user.pk for a in admissions if a.user is not None}
    addresses = {_holder(a)[1] for a in admissions if a.user is None}
    # Sockets, not rows: a multiplexed socket has a row on each stream it follows.
    counts: dict[tuple[str, Any], int] = {}
    if users:
        rows = (
            fresh.filter(user__in=users)
            .values("user")
            .annotate(n=Count("socket_id", distinct=True))
        )
        counts.update({("user", row["user"]): row["n"] for row in rows})
    if addresses - {None}:
        anonymous = fresh.filter(user=None, address__in=addresses - {None})
        rows = anonymous.values("address").annotate(n=Count("socket_id", distinct=True))
        counts.update({("address", row["address"]): row["n"] for row in rows})
    if None in addresses:
        nowhere = fresh.filter(user=None, address=None).values("socket_id").distinct().count()
        counts[("address", None)] = nowhere
    return counts
