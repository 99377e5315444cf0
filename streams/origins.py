"""The WebSocket origin check, completed: the Origin must be this very site.

Channels' AllowedHostsOriginValidator compares the Origin's host name with
ALLOWED_HOSTS and ignores its scheme and port: a page of another service on the
same host name (`http://example.org:8080`, or any local port on a developer's
machine), or the site's own name over plain HTTP, where anyone on the path can
write the page, passes it, and its sockets would carry the user's session
cookie. Inside that validator, this one also requires the Origin's scheme, host
*and port* to be the ones the handshake was sent to, unless the Origin is listed
in CSRF_TRUSTED_ORIGINS. A refused handshake gets HTTP 403, as from channels.

The host and port are the Host header's. The scheme is the handshake's own
(`wss` is https), or, when TLS ended at a proxy in TRUSTED_PROXIES, what that
proxy says in SECURE_PROXY_SSL_HEADER: the same judgement Django makes of an
HTTP request behind website.middleware.TrustedProxyMiddleware.
"""

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings

from streams.proxies import trusted_proxy

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        return parts.hostname or "", parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return None


def site_scheme(scope: dict[str, Any]) -> str:
    """`https` or `http`: how the browser reached the site for this handshake."""
    secure = scope.get("scheme") == "wss"
    client = scope.get("client") or ("", 0)
    if settings.SECURE_PROXY_SSL_HEADER and trusted_proxy(client[0]):
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        name = meta_name.removeprefix("HTTP_").replace("_", "-").lower().encode("latin-1")
        forwarded = _header(scope, name)
        if forwarded is not None:
            secure = forwarded.split(",", 1)[0].strip() == secure_value
    return "https" if secure else "http"


def same_origin(origin: str | None, host: str | None, scheme: str) -> bool:
    """Is `origin` (an Origin header) the site at `host` (the Host header) over `scheme`?"""
    if not origin or not host:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme != scheme or not parts.netloc:
        return False
    origin_site = _host_port(parts.netloc, scheme)
    return origin_site is not None and origin_site == _host_port(host, scheme)


# region: origin-middleware
class SameOriginValidator:
    """ASGI middleware: refuse WebSocket handshakes from any origin but the site's own."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not same_origin(
            _header(scope, b"origin"), _header(scope, b"host"), site_scheme(scope)
        ):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


# endregion
