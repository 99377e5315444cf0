"""Rate limits shared by every tab and process, kept in the Django cache (Redis in production)."""

import time

from django.core.cache import cache

from .cache import RedisCache


class RateLimited(Exception):
    """The caller is over its limit; the action was not taken."""


def rate_limit(key: str, *, limit: int, window: int) -> None:
    """Raise RateLimited when `key` has acted more than `limit` times in this window."""
    if rate_limited(key, limit=limit, window=window):
        raise RateLimited(key)


# region: rate-limited
def rate_limited(key: str, *, limit: int, window: int) -> bool:
    """Count one action for `key`; True when it is over `limit` in this `window` (seconds).

    A fixed window: up to `limit` actions at once, then `limit` per `window`,
    so 10 per 10 s gives a burst of ten and about one a second after that.
    """
    bucket = f"ratelimit:{key}:{int(time.time() // window)}"
    if isinstance(cache, RedisCache):
        count = cache.count(bucket, timeout=window * 2)
    else:
        cache.add(bucket, 0, timeout=window * 2)
        try:
            count = cache.incr(bucket)
        except ValueError:  # expired between add and incr
            cache.set(bucket, 1, timeout=window * 2)
            count = 1
    return count > limit


# endregion
