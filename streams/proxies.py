"""Who is on the other end: the peer, or the client a trusted proxy speaks for.

A forwarded header (X-Forwarded-For, X-Forwarded-Proto) is believed only from a
peer in TRUSTED_PROXIES. Anyone can send those headers; only the proxy in front
overwrites them with what it saw.
"""

from collections.abc import Mapping
from ipaddress import IPv6Address, ip_address, ip_network
from typing import Any

from django.conf import settings


def trusted_proxy(address: str) -> bool:
    """Is `address` (the peer's IP) one of TRUSTED_PROXIES?"""
    try:
        peer = ip_address(address)
    except ValueError:
        return False
    return any(peer in ip_network(entry, strict=False) for entry in settings.TRUSTED_PROXIES)


# region: client-address
def client_address(*, peer: str, forwarded_for: str | None) -> str:
    """The client's address: X-Forwarded-For's last hop when the peer is a trusted proxy.

    The proxy in front (deploy/nginx) sets the header to the address it saw,
    replacing whatever the client sent, so the last entry is the one it vouches for.
    """
    if forwarded_for and trusted_proxy(peer):
        claimed = forwarded_for.rsplit(",", 1)[-1].strip()
        if _is_address(claimed):
            return claimed
    return peer
    # endregion


def scope_address(scope: Mapping[str, Any]) -> str:
    """The address a socket's client connects from (see client_address)."""
    client = scope.get("client") or ("", 0)
    forwarded = dict(scope.get("headers", [])).get(b"x-forwarded-for", b"")
    return client_address(peer=str(client[0]), forwarded_for=forwarded.decode("latin-1"))


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def address_key(address: str) -> str:
    """What a per-address limit counts by: the address, or its /64 for IPv6.

    One IPv6 subscriber is usually handed a whole /64, so counting single
    addresses there would give each of them billions of tries.
    """
    try:
        parsed = ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(parsed, IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
