"""Playwright on Debian's Chromium, with each page's console kept for failure reports."""

import os
import shutil
from collections.abc import Callable, Iterator

import pytest

from tests.support.harness import attach_log
from tests.support.proxy import TcpProxy

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    # `playwright install` cannot download browsers here: launch the system one.
    return {
        "headless": True,
        **browser_type_launch_args,
        "executable_path": shutil.which("chromium") or "/usr/bin/chromium",
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session", autouse=True)
def _allow_orm_beside_playwright() -> Iterator[None]:
    # Sync Playwright runs an event loop in the main thread, so Django takes every
    # ORM call a test or fixture makes here for one made from async code. These
    # tests run in their own process; daphne children do not inherit the flag.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def new_context(new_context, request: pytest.FixtureRequest):
    """pytest-playwright's context factory, recording what every page logs."""
    lines: list[str] = []
    attach_log(request.node, "browser console", lambda: "\n".join(lines) or "(nothing logged)")

    def create(**kwargs):
        context = new_context(**kwargs)
        tag = f"context {len(create.contexts) + 1}"
        create.contexts.append(context)
        context.on(
            "console",
            lambda message: lines.append(
                f"[{tag}] {message.type}: {message.text} ({message.location.get('url', '')})"
            ),
        )
        context.on("weberror", lambda error: lines.append(f"[{tag}] page error: {error.error}"))
        context.on(
            "requestfailed",
            lambda req: lines.append(
                f"[{tag}] request failed: {req.method} {req.url} {req.failure}"
            ),
        )
        return context

    create.contexts = []
    return create


@pytest.fixture(scope="session")
def base_url() -> None:
    # Each test's daphne has a port of its own, so there is no base URL; this also
    # keeps pytest-playwright's own fallback fixture (which pytest 9 warns about) unused.
    return None


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
