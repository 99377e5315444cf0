"""Login lockout: repeated failures for one username from one address lock that pair out.

After LOGIN_FAILURE_LIMIT failed logins for a username from an address (within
LOGIN_LOCKOUT seconds of the first), every login for that username from that
address is refused for LOGIN_LOCKOUT seconds, the right password included. The
counts live in the Django cache (Redis in production), so every process
agrees. Locking per username and address, not per username alone, keeps one
attacker from locking a user out everywhere.
"""

import hashlib
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest

from streams.limits import client_address


def request_address(request: HttpRequest) -> str:
    """The client's address (TrustedProxyMiddleware has dropped forwarded headers it distrusts)."""
    return client_address(
        peer=request.META.get("REMOTE_ADDR", ""),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
    )


def _key(kind: str, *, username: str, address: str) -> str:
    # Hashed: user input never becomes a raw cache key (length, spaces, case).
    who = hashlib.sha256(f"{username.casefold()}\0{address}".encode()).hexdigest()
    return f"login.{kind}:{who}"


def login_locked_until(*, username: str, address: str) -> float | None:
    """When the lockout of `username` from `address` ends (a Unix time), or None if not locked."""
    until = cache.get(_key("locked", username=username, address=address))
    if until is None or until <= time.time():
        return None
    return until


def login_failure_record(*, username: str, address: str) -> None:
    """Count one failed login; the one that reaches LOGIN_FAILURE_LIMIT starts a lockout."""
    lockout = settings.LOGIN_LOCKOUT
    key = _key("failures", username=username, address=address)
    cache.add(key, 0, timeout=lockout)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=lockout)
        failures = 1
    if failures >= settings.LOGIN_FAILURE_LIMIT:
        locked = _key("locked", username=username, address=address)
        cache.set(locked, time.time() + lockout, timeout=lockout + 1)
        cache.delete(key)


def login_success_record(*, username: str, address: str) -> None:
    """A login succeeded: forget the earlier failures."""
    cache.delete(_key("failures", username=username, address=address))


@receiver(user_login_failed)
def _count_failure(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    if request is not None:
        username = str(credentials.get(get_user_model().USERNAME_FIELD, ""))
        login_failure_record(username=username, address=request_address(request))


@receiver(user_logged_in)
def _forget_failures(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is not None:
        login_success_record(username=user.get_username(), address=request_address(request))
