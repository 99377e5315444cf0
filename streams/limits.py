"""Limits on open sockets, counted on the presence rows every process shares.

A socket is counted from the moment it is admitted (its presence row is
written before it joins) until its row goes: on disconnect, or, when its
process dies without running disconnect, once no hub refreshes it for
PRESENCE_TTL seconds. So a killed process leaks nothing for longer than
presence itself does, and every process counts the same rows.
"""

from collections.abc import Mapping
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from .models import Presence
from .presence import fresh_after
from .proxies import scope_address

CLOSE_TOO_MANY_SOCKETS = 4429


async def socket_admit_scope(scope: Mapping[str, Any], *, stream: str, socket_id: str) -> bool:
    """socket_admit for the socket of `scope`, from the event loop."""
    user = scope["user"] if scope["user"].is_authenticated else None
    admit = database_sync_to_async(socket_admit)
    return await admit(stream=stream, socket_id=socket_id, user=user, address=scope_address(scope))


# region: socket-admit
def socket_admit(*, stream: str, socket_id: str, user, address: str) -> bool:
    """Count a socket opening on `stream`; False (and not counted) when it is one too many.

    A signed-in user may hold SOCKETS_PER_USER sockets at once, anonymous
    sockets from one address SOCKETS_PER_ADDRESS. The row is written before
    the count is read, so sockets opening at the same moment each see the
    others and none slips past the limit (at worst all of them are refused).
    """
    if user is not None:
        limit, mine = settings.SOCKETS_PER_USER, {"user": user}
    else:
        limit, mine = settings.SOCKETS_PER_ADDRESS, {"user": None, "address": address or None}
    # A new socket id each time: its row cannot exist yet (the hub updates it on join).
    Presence.objects.create(
        stream=stream,
        socket_id=socket_id,
        user=user,
        address=address or None,
        last_seen=timezone.now(),
    )
    # Sockets, not rows: a multiplexed socket has a row on each stream it follows.
    fresh = Presence.objects.filter(last_seen__gte=fresh_after(), **mine)
    open_now = fresh.values("socket_id").distinct().count()
    if open_now <= limit:
        return True
    Presence.objects.filter(stream=stream, socket_id=socket_id).delete()
    return False


# endregion
