"""Login lockout: repeated failures lock a username out from an address, or the address itself.

After LOGIN_FAILURE_LIMIT failed logins for a username from an address (within
LOGIN_LOCKOUT seconds of the first), every login for that username from that
address is refused for LOGIN_LOCKOUT seconds, the right password included;
after LOGIN_ADDRESS_FAILURE_LIMIT failures from an address, whatever the
usernames, every login from it is. The counts live in the Django cache (Redis
in production), so every process agrees. Locking per username and address,
not per username alone, keeps one attacker from locking a user out everywhere.
"""

import hashlib
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest

from streams.proxies import client_address


def request_address(request: HttpRequest) -> str:
    """The client's address (TrustedProxyMiddleware has dropped forwarded headers it distrusts)."""
    return client_address(
        peer=request.META.get("REMOTE_ADDR", ""),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
    )


def _key(kind: str, *, address: str, username: str | None = None) -> str:
    """The cache key of `kind` for `username` from `address`, or for the address alone."""
    # Hashed: user input never becomes a raw cache key (length, spaces, case).
    who = f"{username.casefold()}\0{address}" if username is not None else f"\1{address}"
    return f"login.{kind}:{hashlib.sha256(who.encode()).hexdigest()}"


def login_locked_until(*, username: str, address: str) -> float | None:
    """When the lockout of `username` from `address` ends (a Unix time), or None if not locked."""
    keys = [_key("locked", username=username, address=address), _key("locked", address=address)]
    now = time.time()
    untils = [until for until in cache.get_many(keys).values() if until > now]
    return max(untils, default=None)


def login_failure_record(*, username: str, address: str) -> None:
    """Count one failed login, for the username from the address and for the address alone."""
    limit, address_limit = settings.LOGIN_FAILURE_LIMIT, settings.LOGIN_ADDRESS_FAILURE_LIMIT
    _count_failure_on(_key("failures", username=username, address=address), limit=limit)
    _count_failure_on(_key("failures", address=address), limit=address_limit)


def _count_failure_on(key: str, *, limit: int) -> None:
    """Count a failure on `key`; the one that reaches `limit` starts a lockout of LOGIN_LOCKOUT."""
    lockout = settings.LOGIN_LOCKOUT
    cache.add(key, 0, timeout=lockout)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=lockout)
        failures = 1
    if failures >= limit:
        locked = key.replace("login.failures:", "login.locked:", 1)
        cache.set(locked, time.time() + lockout, timeout=lockout + 1)
        cache.delete(key)


def login_success_record(*, username: str, address: str) -> None:
    """A login succeeded: forget that username's failures from that address.

    Not the address's own count: one account an attacker holds must not
    reset the count of guesses at everybody else's.
    """
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
