"""A socket's session, found once when it opens, so that nothing looks at it per frame.

channels' SessionMiddleware (inside AuthMiddlewareStack) serves HTTP and
sockets alike. It wraps `send`, and before every message an application sends
it reads the session, through a lazy proxy, to decide whether to save it and
set its cookie. Only an HTTP response can carry a cookie, so for a socket that
work never leads anywhere, yet a broadcast to 1,000 sockets pays it 1,000
times: 14 % of daphne's CPU in the profile (docs/performance.md).

When the scope already holds a session, channels' middleware takes it for an
outer session middleware's and only passes messages through. This is that
outer middleware. Placed outside AuthMiddlewareStack, it puts in the scope
what channels would: a lazy proxy for the store of the session cookie, parsed
as channels parses it and loaded on first use (AuthMiddleware loads it, in a
worker thread). Nothing else changes: a socket still never saves its session
by itself, and code that changes it calls `save()`.
"""

from importlib import import_module
from typing import Any

from django.conf import settings
from django.http.cookie import parse_cookie
from django.utils.functional import LazyObject


def _cookies(scope: dict[str, Any]) -> dict[str, str]:
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            return parse_cookie(value.decode("latin-1"))
    return {}


class SocketSessionMiddleware:
    """Put the session of the handshake's cookie in `scope["session"]`, as channels would."""

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if "session" not in scope:
            store = import_module(settings.SESSION_ENGINE).SessionStore
            session = LazyObject()
            session._wrapped = store(_cookies(scope).get(settings.SESSION_COOKIE_NAME))
            scope = {**scope, "session": session}
        return await self.inner(scope, receive, send)
