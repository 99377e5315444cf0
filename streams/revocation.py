"""Revocation: a socket lives no longer than the session and the rights it was opened with.

A socket is authorised once, at its handshake. What can end that authority
later is a change to the user's account, made by Django's own code paths
(`logout()`, `set_password()`, the admin's user and group forms, `manage.py
changepassword`), which call no service of this project: the signal receivers
below are where they can be heard. Each turns a change into one layer message
to the user's group, after commit; every process's hub is in the group of each
user it has a socket for, and closes those sockets (streams/hub.py):

- the session ended (logout, password change, deactivation, deletion): 4401;
  after a logout only the sockets of the session that logged out, since the
  user's other sessions stay signed in;
- the rights changed (groups, permissions, staff or superuser status): 4403,
  and the page reloads to be authorised anew;
- the user may no longer read one stream (removed from a private room, or
  left it): `subscriptions_revoke`, called by the service that made the
  change. Only that stream is dropped.

Revocation goes through the channel layer, so a layer outage can delay it: the
hub also checks the sessions of all its sockets every SOCKET_SESSION_RECHECK
seconds (`sessions_ended`) and closes those whose session has expired or ended.
"""

from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    user_logged_out,
)
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string

from .broadcast import channel_layer
from .sessions import sessions_load, users_load

# The layer message types the hubs close sockets on, and drop one stream of them on.
REVOKE = "stream.revoke"
UNSUBSCRIBE = "stream.unsubscribe"

CLOSE_SESSION_ENDED = 4401
CLOSE_RIGHTS_CHANGED = 4403

# The fields of a user whose change ends a session, or changes what it may see.
SESSION_FIELDS = ("password", "is_active")
RIGHTS_FIELDS = ("is_staff", "is_superuser")


def user_group(user_id: int) -> str:
    """The layer group of every process that has a socket of this user."""
    return f"user.{user_id}"


# region: sockets-revoke
def sockets_revoke(*, user_id: int, code: int, session_key: str | None = None) -> None:
    """Close the user's sockets on every process once the current transaction commits.

    With `session_key`, only the sockets opened with that session.
    """
    group = user_group(user_id)
    message = {"type": REVOKE, "group": group, "code": code, "session": session_key}
    transaction.on_commit(lambda: async_to_sync(channel_layer().group_send)(group, message))


# endregion


# region: subscriptions-revoke
def subscriptions_revoke(*, user_id: int, stream: str) -> None:
    """Make every socket of the user stop following `stream`, once the transaction commits.

    `stream` is the stream's name on the wire (`chat:<slug>`). A multiplexed
    socket drops it (`stream.left`, reason `not_allowed`) and keeps the others;
    a socket that follows only that stream closes with 4403.
    """
    group = user_group(user_id)
    message = {"type": UNSUBSCRIBE, "group": group, "stream": stream}
    transaction.on_commit(lambda: async_to_sync(channel_layer().group_send)(group, message))


# endregion


def sessions_ended(sessions: set[tuple[int, str | None]]) -> set[tuple[int, str | None]]:
    """Those of the (user id, session key) pairs whose session no longer signs that user in.

    The test every HTTP request passes (django.contrib.auth.get_user): the
    session exists and has not expired, names this user, an active one, and
    carries the hash of the user's current password. A socket signed in
    without a session cannot be checked, and counts as ended. The database
    sessions are read in one query and the users in one more, as a storm of
    sockets opening reads them (streams/sessions.py), however many there are.
    """
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
    stores = {key: store(key) for _user_id, key in sessions if key is not None}
    sessions_load(list(stores.values()))
    claims = {key: _claim(session) for key, session in stores.items()}
    users = users_load({(pk, path) for pk, path, _hash in filter(None, claims.values())})
    return {
        (user_id, key)
        for user_id, key in sessions
        if key is None or _signed_in_user(claims[key], users) != user_id
    }


def _claim(session: SessionBase) -> tuple[Any, str, str] | None:
    """Whom `session` says it signs in: (user pk, backend path, password hash), or None.

    It reads the session, never changes it: django.contrib.auth.get_user would
    also flush a session that fails, or re-key one signed with a fallback
    secret, which no browser would then hold.
    """
    try:
        user_id = session[SESSION_KEY]
        backend_path = session[BACKEND_SESSION_KEY]
    except KeyError:
        return None
    session_hash = session.get(HASH_SESSION_KEY)
    if backend_path not in settings.AUTHENTICATION_BACKENDS or not session_hash:
        return None
    pk = get_user_model()._meta.pk.to_python(user_id)  # type: ignore[union-attr]
    return pk, backend_path, session_hash


def _signed_in_user(claim: tuple[Any, str, str] | None, users: dict[tuple[Any, str], Any]) -> Any:
    """The pk of the user a session's claim signs in, or None."""
    if claim is None:
        return None
    pk, backend_path, session_hash = claim
    user = users.get((pk, backend_path))
    if user is None:  # gone, or no longer active
        return None
    # As get_user does, the hash made with the current secret or a fallback one.
    for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]:
        user_hash = user._get_session_auth_hash(secret=secret)  # type: ignore[attr-defined]
        if constant_time_compare(session_hash, user_hash):
            return user.pk
    return None


# Receivers -------------------------------------------------------------------------


# region: logged-out
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        sockets_revoke(
            user_id=user.pk, code=CLOSE_SESSION_ENDED, session_key=request.session.session_key
        )


# endregion


def _user_saving(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    """Note the fields that matter as they were, unless this save cannot change them."""
    watched = SESSION_FIELDS + RIGHTS_FIELDS
    if instance.pk is None or (update_fields is not None and not set(update_fields) & set(watched)):
        instance._revocation_before = None
        return
    instance._revocation_before = sender.objects.filter(pk=instance.pk).values(*watched).first()


def _user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    before = getattr(instance, "_revocation_before", None)
    if created or before is None:
        return
    if any(before[field] != getattr(instance, field) for field in SESSION_FIELDS):
        sockets_revoke(user_id=instance.pk, code=CLOSE_SESSION_ENDED)
    elif any(before[field] != getattr(instance, field) for field in RIGHTS_FIELDS):
        sockets_revoke(user_id=instance.pk, code=CLOSE_RIGHTS_CHANGED)


def _user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    sockets_revoke(user_id=instance.pk, code=CLOSE_SESSION_ENDED)


def _memberships_changed(
    sender: Any, instance: Any, action: str, reverse: bool, model: Any, pk_set: Any, **kwargs: Any
) -> None:
    """A user's groups or permissions changed, from either side of the relation."""
    if action == "pre_clear":
        # After the clear, nothing says who was in it.
        instance._revocation_cleared = _users_of(sender, instance, reverse, model)
        return
    if action == "post_clear":
        user_ids = instance._revocation_cleared
    elif action in ("post_add", "post_remove"):
        user_ids = _users_of(sender, instance, reverse, model, pk_set)
    else:
        return
    for user_id in user_ids:
        sockets_revoke(user_id=user_id, code=CLOSE_RIGHTS_CHANGED)


def _users_of(sender: Any, instance: Any, reverse: bool, model: Any, pk_set: Any = None) -> set:
    """The users whose rights this change of `sender` touches (pk_set None: all of them)."""
    user_model = get_user_model()
    if isinstance(instance, user_model):  # user.groups / user.user_permissions
        return {instance.pk}
    if model is user_model:  # group.user_set / permission.user_set
        users = pk_set if pk_set is not None else instance.user_set.values_list("pk", flat=True)
        return set(users)
    # group.permissions / permission.group_set: the groups' members.
    if isinstance(instance, Group):
        groups: Any = [instance.pk]
    else:
        groups = pk_set if pk_set is not None else instance.group_set.values_list("pk", flat=True)
    return set(user_model.objects.filter(groups__in=groups).values_list("pk", flat=True))


def connect_receivers() -> None:
    """Listen for the changes that end a socket's authority (from StreamsConfig.ready)."""
    user_model = get_user_model()
    user_logged_out.connect(_logged_out, dispatch_uid="streams.revocation.logout")
    pre_save.connect(_user_saving, sender=user_model, dispatch_uid="streams.revocation.saving")
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="streams.revocation.saved")
    post_delete.connect(_user_deleted, sender=user_model, dispatch_uid="streams.revocation.deleted")
    for through in (
        user_model.groups.through,  # type: ignore[attr-defined]
        user_model.user_permissions.through,  # type: ignore[attr-defined]
        Group.permissions.through,
    ):
        m2m_changed.connect(
            _memberships_changed, sender=through, dispatch_uid=f"streams.revocation.{through}"
        )
