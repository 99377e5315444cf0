"""Helpers for browser tests."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import connections


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
