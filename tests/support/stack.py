"""Which stack the suite runs on: the embedded default, or PostgreSQL + Redis.

`TEST_STACK=postgres-redis` runs the same tests on a PostgreSQL and a Redis the
suite starts (tests/conftest.py); without it they run on SQLite and the
in-memory channel layer.
"""

import os

import pytest

STACKS = {"": "embedded default", "postgres-redis": "PostgreSQL + Redis"}
STACK = os.environ.get("TEST_STACK", "")
if STACK not in STACKS:
    raise pytest.UsageError(f"TEST_STACK must be one of {sorted(STACKS)}, not {STACK!r}.")
ON_REDIS_STACK = STACK == "postgres-redis"
