"""A socket's session, found once when it opens, so that nothing looks at it per frame.

channels' SessionMiddleware (inside AuthMiddlewareStack) serves HTTP and
sockets alike. It wraps `send`, and before every message an application sends
it reads the session, through a lazy proxy, to decide whether to save it and
set its cookie. Only an HTTP response can carry a cookie, so for a socket that
work never leads anywhere, yet a broadcast to 1,000 sockets pays it 1,000
times: 14 % of daphne's CPU in the profile (docs/performance.md).

The user is found as channels' AuthMiddleware finds it (its `get_user`: the
session names a user of a configured backend, an active one, and carries the
hash of their password), but in a trip shared with the other sockets opening
at the same moment (streams/opening.py): their sessions are read in one query
and their users in another, rather than two queries and a thread hop each.

When the scope already holds a session, channels' middleware takes it for an
outer session middleware's and only passes messages through. This is that
outer middleware. Placed outside AuthMiddlewareStack, it puts in the scope
what channels would: a lazy proxy for the store of the session cookie, parsed
as channels parses it and loaded on first use (AuthMiddleware loads it, in a
worker thread). Nothing else changes: a socket still never saves its session
by itself, and code that changes it calls `save()`.
"""

from importlib import import_module
from typing import Any, cast

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.http.cookie import parse_cookie
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.functional import LazyObject

from .opening import trip


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


class SocketAuthMiddleware(AuthMiddleware):
    """channels' AuthMiddleware, the user found in a trip shared with the sockets opening."""

    async def resolve_scope(self, scope) -> None:
        session = scope["session"]
        store = session._wrapped if isinstance(session, LazyObject) else session  # type: ignore[attr-defined]
        scope["user"]._wrapped = await trip(users_signed_in, store)


def SocketAuthMiddlewareStack(inner):  # noqa: N802 (named as channels' AuthMiddlewareStack)
    return CookieMiddleware(SessionMiddleware(SocketAuthMiddleware(inner)))


def users_signed_in(sessions: list[SessionBase]) -> list[Any]:
    """The user each session signs in (AnonymousUser for none), as channels' get_user finds
    it: the sessions read in one query, the users of each backend in one more."""
    sessions_load(sessions)
    asked: list[tuple[Any, str] | None] = []
    for session in sessions:
        try:
            # As channels' _get_user_session_key reads it.
            pk = get_user_model()._meta.pk
            user_id = pk.to_python(session[SESSION_KEY])  # type: ignore[union-attr]
            backend_path = session[BACKEND_SESSION_KEY]
        except KeyError:
            asked.append(None)
            continue
        asked.append(
            (user_id, backend_path) if backend_path in settings.AUTHENTICATION_BACKENDS else None
        )
    users = users_load({wanted for wanted in asked if wanted is not None})
    found = []
    for session, wanted in zip(sessions, asked, strict=True):
        user = users.get(wanted) if wanted is not None else None
        # Verify the session, as get_user does: a session signed with an old
        # password hash signs nobody in, and is flushed.
        if user is not None and hasattr(user, "get_session_auth_hash"):
            session_hash = session.get(HASH_SESSION_KEY)
            if not (
                session_hash and constant_time_compare(session_hash, user.get_session_auth_hash())
            ):
                session.flush()
                user = None
        found.append(user or AnonymousUser())
    return found


def sessions_load(sessions: list[SessionBase]) -> None:
    """Read the database-backed sessions not yet loaded in one query, as each would load itself.

    Other session engines load themselves, one by one, when first read.
    """
    stores = [
        store
        for store in sessions
        if type(store).load is DatabaseStore.load
        and isinstance(store, DatabaseStore)
        and store.session_key is not None
        and not hasattr(store, "_session_cache")
    ]
    if not stores:
        return
    model = stores[0].model
    rows = model.objects.filter(
        session_key__in={store.session_key for store in stores}, expire_date__gt=timezone.now()
    )
    data = {row.session_key: row.session_data for row in rows}
    for store in stores:
        if store.model is not model:
            continue  # another table: it loads itself
        if store.session_key in data:
            store._session_cache = store.decode(data[store.session_key])  # type: ignore[attr-defined]
        else:  # gone or expired, as _get_session_from_db leaves it
            store._session_key = None
            store._session_cache = {}  # type: ignore[attr-defined]


def users_load(wanted: set[tuple[Any, str]]) -> dict[tuple[Any, str], Any]:
    """Each (user id, backend path) -> its backend's user (None if none or inactive).

    ModelBackend's users are read in one query; another backend's, one by one.
    """
    users: dict[tuple[Any, str], Any] = {}
    model_backend = [(uid, path) for uid, path in wanted if _is_model_backend(path)]
    if model_backend:
        manager = get_user_model()._default_manager
        rows = {user.pk: user for user in manager.filter(pk__in={uid for uid, _ in model_backend})}
        for user_id, path in model_backend:
            user = rows.get(user_id)
            backend = cast(ModelBackend, load_backend(path))
            users[(user_id, path)] = (
                user if user is not None and backend.user_can_authenticate(user) else None
            )
    for user_id, path in wanted - set(model_backend):
        users[(user_id, path)] = load_backend(path).get_user(user_id)
    return users


def _is_model_backend(path: str) -> bool:
    backend = load_backend(path)
    return isinstance(backend, ModelBackend) and type(backend).get_user is ModelBackend.get_user
