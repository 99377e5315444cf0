"""Limits on open sockets, counted on the presence rows every process shares.

A socket is counted from the moment it is admitted (its presence row is
written before it joins) until its row goes: on disconnect, or, when its
process dies without running disconnect, once no hub refreshes it for
PRESENCE_TTL seconds. So a killed process leaks nothing for longer than
presence itself does, and every process counts the same rows.
"""

from collections.abc import Mapping
from ipaddress import ip_address, ip_network
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from .models import Presence
from .presence import fresh_after

CLOSE_TOO_MANY_SOCKETS = 4429


def client_address(*, peer: str, forwarded_for: str | None) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy that says otherwise.

    The proxy in front (deploy/nginx) sets X-Forwarded-For to the address it
    saw, replacing whatever the client sent, so the last entry is the one it
    vouches for. From anyone not in TRUSTED_PROXIES the header is ignored.
    """
    if forwarded_for and _trusted(peer):
        claimed = forwarded_for.split(",")[-1].strip()
        if _address(claimed):
            return claimed
    return peer


def _address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def _trusted(peer: str) -> bool:
    if not _address(peer):
        return False
    networks = [ip_network(entry, strict=False) for entry in settings.TRUSTED_PROXIES]
    return any(ip_address(peer) in network for network in networks)


def scope_address(scope: Mapping[str, Any]) -> str:
    """The address a socket's client connects from (see client_address)."""
    client = scope.get("client") or ("", 0)
    forwarded = dict(scope.get("headers", [])).get(b"x-forwarded-for", b"")
    return client_address(peer=str(client[0]), forwarded_for=forwarded.decode("latin-1"))


async def socket_admit_scope(scope: Mapping[str, Any], *, stream: str, socket_id: str) -> bool:
    """socket_admit for the socket of `scope`, from the event loop."""
    user = scope["user"] if scope["user"].is_authenticated else None
    admit = database_sync_to_async(socket_admit)
    return await admit(stream=stream, socket_id=socket_id, user=user, address=scope_address(scope))


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
    open_now = Presence.objects.filter(last_seen__gte=fresh_after(), **mine).count()
    if open_now <= limit:
        return True
    Presence.objects.filter(stream=stream, socket_id=socket_id).delete()
    return False
