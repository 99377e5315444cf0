"""Chromium for the browser and deploy tests, and helpers for driving the pages.

The fixtures here (Debian's Chromium, contexts that keep what each page logs,
no base URL) are the ones tests/browser and tests/deploy share; each of their
conftest modules imports them.
"""

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from playwright.sync_api import Page, expect

from tests.support.harness import attach_log

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


# Chat rooms: the message rows, and [id, author, body text] of each, top to bottom.
ROWS = "#messages li.message[data-id]"
READ_ROWS = """rows => rows.map(row => [
  Number(row.dataset.id),
  row.querySelector('.message-author').textContent,
  row.querySelector('.message-body').textContent,
])"""


def off_loop(service: Callable, /, **kwargs):
    """Call a service from a worker thread.

    Its after-commit broadcast goes through async_to_sync, which refuses to run
    in this thread beside Playwright's event loop.
    """

    def call():
        try:
            return service(**kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


# region: wait-live
def wait_live(page: Page) -> Page:
    expect(page.locator("#room")).to_have_attribute("data-state", "live")
    return page
    # endregion


def say(page: Page, text: str) -> None:
    """Type a message and press Enter, as a person would."""
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")


def rows(page: Page) -> list[tuple[int, str, str]]:
    return [tuple(row) for row in page.locator(ROWS).evaluate_all(READ_ROWS)]
