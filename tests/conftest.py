"""Fixtures for the whole suite: real servers, the stack switch, users and live daphnes.

`TEST_STACK=postgres-redis` runs the same tests on PostgreSQL and Redis started
here; without it the suite uses the embedded default (SQLite, in-memory layer).
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.factories import PASSWORD, UserFactory
from tests.support.harness import (
    DaphneServer,
    LiveblogWorker,
    PostgresServer,
    RedisServer,
    attach_log,
    failure_sections,
)
from tests.support.stack import ON_REDIS_STACK, STACK, STACKS

BROWSER_TESTS = Path(__file__).parent / "browser"


def pytest_report_header(config) -> str:
    return f"stack: {STACKS[STACK]}"


def pytest_collection_modifyitems(config, items) -> None:
    # Everything under tests/browser is a browser test, marked or not, so that
    # `-m "not browser"` can never pull one into a process running asyncio tests.
    for item in items:
        if BROWSER_TESTS in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)
    # A test of PostgreSQL itself belongs to the PostgreSQL run only: elsewhere
    # it is left out of the selection, not run and skipped.
    if not ON_REDIS_STACK:
        elsewhere = [item for item in items if item.get_closest_marker("postgres")]
        if elsewhere:
            config.hook.pytest_deselected(items=elsewhere)
            items[:] = [item for item in items if not item.get_closest_marker("postgres")]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        report.sections.extend(failure_sections(item))


# Servers -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis for the whole session (the one the Redis stack runs on)."""
    server = RedisServer.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own, which the test may stop."""
    server = RedisServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    yield server
    server.stop()


# The stack switch ----------------------------------------------------------------


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, request: pytest.FixtureRequest
) -> None:
    """On the Redis stack, point the default database at a throwaway PostgreSQL."""
    if not ON_REDIS_STACK:
        return
    from django.conf import settings
    from django.db import connections

    from project.settings.base import database

    server = request.getfixturevalue("postgres_server")
    config = database(server.url("app"))
    # In place: Django's connection handler holds this very dict.
    default = settings.DATABASES["default"]
    default.update(config)
    default["OPTIONS"] = config.get("OPTIONS", {})
    default["TEST"] = {**default.get("TEST", {}), "NAME": None}  # "test_app"
    connections["default"].close()
    del connections["default"]  # the next use builds a PostgreSQL connection


@pytest.fixture(scope="session", autouse=True)
def _redis_stack_settings(request: pytest.FixtureRequest) -> Iterator[None]:
    """On the Redis stack, the channel layer and cache settings production builds, on our Redis."""
    if not ON_REDIS_STACK:
        yield
        return
    from django.test import override_settings

    from project.settings.base import caches, channel_layers

    url = request.getfixturevalue("redis_server").url
    # channels and Django both reset their backends when these settings change.
    override = override_settings(CHANNEL_LAYERS=channel_layers(url), CACHES=caches(url))
    override.enable()
    yield
    override.disable()


@pytest.fixture(autouse=True)
def _fresh_layer_and_cache(request: pytest.FixtureRequest) -> None:
    """Each test starts with an empty channel layer and cache, built on its own event loop."""
    from channels.layers import channel_layers
    from django.core.cache import caches

    channel_layers.backends.clear()
    if ON_REDIS_STACK:
        request.getfixturevalue("redis_server").flushall()
    else:
        for cache in caches.all(initialized_only=True):
            cache.clear()


@pytest.fixture(scope="session")
def stack_env(request: pytest.FixtureRequest, django_db_setup: None) -> dict[str, str]:
    """Environment for a server process to use the test database (and Redis, on that stack)."""
    from django.db import connections

    db = connections["default"].settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        env = {"DATABASE_URL": f"sqlite:///{db['NAME']}"}
    else:
        env = {"DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    if ON_REDIS_STACK:
        env["REDIS_URL"] = request.getfixturevalue("redis_server").url
    return env


# Live servers ----------------------------------------------------------------------


def _app_processes(kind, label: str, request, stack_env: dict[str, str], tmp_path: Path):
    """A starter of `kind` processes (DaphneServer, LiveblogWorker) on the test database,
    and the list of those it started, for the fixture to stop."""
    started: list = []

    def start(**env: str | None):
        log_path = tmp_path / f"{label.replace(' ', '-')}-{len(started) + 1}.log"
        process = kind.start(env={**stack_env, **env}, log_path=log_path)
        started.append(process)
        attach_log(request.node, f"{label} pid {process.pid} output", process.log)
        return process

    return start, started


@pytest.fixture
def daphne_factory(
    request: pytest.FixtureRequest,
    transactional_db: None,
    stack_env: dict[str, str],
    tmp_path: Path,
) -> Iterator[Callable[..., DaphneServer]]:
    """Start daphne processes on the test database: `daphne_factory(REDIS_URL=url, ...)`.

    Keyword arguments are environment variables over `stack_env`; None unsets
    one. Every process is stopped after the test, and a failing test shows each
    one's output. The data a test writes must be committed for daphne to see
    it, hence `transactional_db`.
    """
    start, started = _app_processes(DaphneServer, "daphne", request, stack_env, tmp_path)
    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def worker_factory(
    request: pytest.FixtureRequest,
    transactional_db: None,
    stack_env: dict[str, str],
    tmp_path: Path,
) -> Iterator[Callable[..., LiveblogWorker]]:
    """Start liveblog workers (the scheduler) on the test database, as daphne_factory does."""
    start, started = _app_processes(LiveblogWorker, "liveblog worker", request, stack_env, tmp_path)
    yield start
    for worker in reversed(started):
        worker.stop()


@pytest.fixture
def daphne_server(daphne_factory: Callable[..., DaphneServer]) -> DaphneServer:
    """One live daphne on the test database and the stack's channel layer."""
    return daphne_factory()


@pytest.fixture
def live_server_url(daphne_server: DaphneServer) -> str:
    return daphne_server.url


# Users ---------------------------------------------------------------------------


@pytest.fixture
def password() -> str:
    """The password every user made by `make_user` has."""
    return PASSWORD


@pytest.fixture
def make_user(db: None) -> type[UserFactory]:
    """The user factory: `make_user(username="ann")`; the password is `password`."""
    return UserFactory


@pytest.fixture
def user(make_user: type[UserFactory]):
    return make_user()


@pytest.fixture
def login_cookie(db: None) -> Callable[..., str]:
    """`login_cookie(user)` -> a Cookie header value carrying a fresh session for `user`.

    It writes the session to the database: call it from sync code (a fixture,
    or through `database_sync_to_async`).
    """
    from django.conf import settings
    from django.test import Client

    def cookie(user) -> str:
        client = Client()
        client.force_login(user)
        name = settings.SESSION_COOKIE_NAME
        return f"{name}={client.cookies[name].value}"

    return cookie


@pytest.fixture
def make_editor(make_user: type[UserFactory]) -> Callable:
    """`make_editor(username=...)`: a user in the liveblog-editors group."""
    from django.contrib.auth.models import Group

    from liveblog.models import EDITORS_GROUP

    def make(**kwargs):
        user = make_user(**kwargs)
        # get_or_create: a transactional test flushes what the migration created.
        user.groups.add(Group.objects.get_or_create(name=EDITORS_GROUP)[0])
        return user

    return make


@pytest.fixture
def editor(make_editor):
    return make_editor(username="ed")
