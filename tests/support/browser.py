"""Helpers for browser tests."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import connections
from playwright.sync_api import Page, expect

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


def wait_live(page: Page) -> Page:
    expect(page.locator("#room")).to_have_attribute("data-state", "live")
    return page


def say(page: Page, text: str) -> None:
    """Type a message and press Enter, as a person would."""
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")


def rows(page: Page) -> list[tuple[int, str, str]]:
    return [tuple(row) for row in page.locator(ROWS).evaluate_all(READ_ROWS)]
