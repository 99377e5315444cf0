"""Browser-test fixtures: Chromium and its console-keeping contexts, the ORM beside
Playwright's loop, a proxy a test can cut."""

import os
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page

from tests.support.browser import (  # noqa: F401 - fixtures, shared with tests/deploy
    base_url,
    browser_type_launch_args,
    new_context,
    off_loop,
    wait_live,
)
from tests.support.harness import DaphneServer, attach_log
from tests.support.proxy import TcpProxy


@pytest.fixture(scope="session", autouse=True)
def _allow_orm_beside_playwright() -> Iterator[None]:
    # Sync Playwright runs an event loop in the main thread, so Django takes every
    # ORM call a test or fixture makes here for one made from async code. These
    # tests run in their own process; daphne children do not inherit the flag.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def make_editor(make_editor: Callable) -> Callable:
    """The suite's make_editor, off Playwright's loop: joining the editors' group closes
    the user's sockets, through async_to_sync, after commit (streams/revocation.py)."""
    return lambda **kwargs: off_loop(make_editor, **kwargs)


@pytest.fixture
def proxy_to(request: pytest.FixtureRequest) -> Iterator[Callable[[int], TcpProxy]]:
    """`proxy_to(port)` -> a started TcpProxy in front of 127.0.0.1:port, stopped after the test."""
    proxies: list[TcpProxy] = []

    def start(port: int) -> TcpProxy:
        proxy = TcpProxy(port).start()
        proxies.append(proxy)
        attach_log(request.node, f"proxy :{proxy.port} -> :{port}", proxy.log)
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def sign_in(new_context, daphne_server: DaphneServer, password: str) -> Iterator[Callable]:  # noqa: F811
    """`sign_in(user, path, base_url=..., **context_options)` -> a live page of a new context."""

    def open_as(user, path: str, base_url: str | None = None, **options) -> Page:  # noqa: F811
        page = new_context(**options).new_page()
        page.goto(f"{base_url or daphne_server.url}/accounts/login/?next={path}")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        return wait_live(page)

    yield open_as
    for context in new_context.contexts:
        context.close()


@pytest.fixture
def ann(make_user):
    return make_user(username="ann")


@pytest.fixture
def bob(make_user):
    return make_user(username="bob")


@pytest.fixture
def carol(make_user):
    return make_user(username="carol")
