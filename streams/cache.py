"""Django's Redis cache with one connection pool per process, and a windowed counter.

Django keeps a cache object per async context, and each of its Redis caches
opens a connection pool of its own: every socket's task then had its own
pool, and a rate-limit check could start by opening a connection. Here every
cache object of one process shares one client, hence one pool.
"""

import threading
from typing import Any, ClassVar

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.utils.functional import cached_property


class RedisCache(DjangoRedisCache):
    _clients: ClassVar[dict[str, Any]] = {}
    _lock = threading.Lock()

    @cached_property
    def _cache(self):
        key = repr((self._servers, sorted(self._options.items())))
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._class(self._servers, **self._options)
            return self._clients[key]

    def count(self, key: str, *, timeout: int) -> int:
        """Add one to the counter `key`, made with `timeout` (seconds) if new; its value.

        One round trip (SET NX EX, INCR in MULTI/EXEC), where add() and incr() take two.
        """
        key = self.make_and_validate_key(key)
        with self._cache.get_client(key, write=True).pipeline() as pipe:
            pipe.set(key, 0, ex=timeout, nx=True)
            pipe.incr(key)
            return pipe.execute()[1]
