"""The Redis cache: one pool per process, and rate limits counted in one round trip."""

import threading

import pytest
import redis
import redis.client

from streams.cache import RedisCache
from streams.ratelimit import rate_limited


@pytest.fixture
def redis_cache(fresh_redis):
    def make() -> RedisCache:
        return RedisCache(fresh_redis.url, {"KEY_PREFIX": "cache"})

    return make


def test_every_cache_object_of_a_process_shares_one_connection_pool(redis_cache):
    first, second = redis_cache(), redis_cache()
    first.set("k", 1)

    assert second.get("k") == 1
    assert first._cache is second._cache
    assert first._cache.get_client(write=True).connection_pool is (
        second._cache.get_client(write=True).connection_pool
    )


def test_a_count_is_exact_across_threads_and_expires(redis_cache, fresh_redis):
    counts: list[int] = []
    lock = threading.Lock()

    def count_ten() -> None:
        cache = redis_cache()  # each thread its own cache object, as each context has
        for _ in range(10):
            value = cache.count("bucket", timeout=30)
            with lock:
                counts.append(value)

    threads = [threading.Thread(target=count_ten) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(counts) == list(range(1, 41))
    ttl = int(fresh_redis.command("TTL", "cache:1:bucket").lstrip(b":"))
    assert 0 < ttl <= 30
    assert redis_cache().get("bucket") == 40


def test_a_rate_limit_on_redis_counts_in_one_round_trip(redis_cache, monkeypatch):
    monkeypatch.setattr("streams.ratelimit.cache", redis_cache())
    trips: list[str] = []
    single, pipelined = redis.Redis.execute_command, redis.client.Pipeline.execute

    def command(self, *args, **kwargs):
        trips.append(args[0])
        return single(self, *args, **kwargs)

    def pipeline(self, *args, **kwargs):
        trips.append("pipeline")
        return pipelined(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", pipeline)

    results = [rate_limited("someone", limit=2, window=60) for _ in range(3)]

    assert results == [False, False, True]
    assert trips == ["pipeline"] * 3
