"""When scheduled posts go out: the worker's loop, and the same loop inside a server.

A scheduler sleeps until the next post is due, but never longer than the poll
(so it notices a post scheduled by another process), and a post scheduled in
this process wakes it at once. Several may run; each post is published once
(services.publish_due).

With the embedded default's in-memory channel layer, a broadcast reaches only
the sockets of the process that sends it, so a separate worker's publication
would reach open pages only at their next keep-alive. There the server runs
the scheduler itself (`scheduler_ensure`, from the first liveblog socket), and
the worker holds back `LIVEBLOG_SCHEDULER_HANDOFF` seconds, publishing only
what no server did (when no page is open, nobody is waiting for the broadcast).
"""

import asyncio
import contextlib
import logging
import threading
import weakref
from datetime import datetime, timedelta

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer
from django.conf import settings
from django.utils import timezone

from streams.broadcast import channel_layer

from .selectors import post_next_due

logger = logging.getLogger(__name__)

# One scheduler task per event loop, and how to wake each; a post scheduled here wakes them.
_tasks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = (
    weakref.WeakKeyDictionary()
)
_wakers: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}
_wakers_lock = threading.Lock()


def scheduler_wait(*, upcoming: datetime | None, poll: float, delay: float = 0.0) -> float:
    """Seconds to sleep: until `delay` after the next due time, at most `poll`."""
    if upcoming is None:
        return poll
    until = (upcoming - timezone.now()).total_seconds() + delay
    return min(poll, max(0.0, until))


def scheduler_in_server() -> bool:
    """Whether servers publish scheduled posts: only where a worker's broadcast cannot reach."""
    return settings.LIVEBLOG_SCHEDULER_IN_SERVER and isinstance(
        channel_layer(), InMemoryChannelLayer
    )


def worker_delay() -> float:
    """How long after a post's time the worker publishes it (0 unless servers do it first)."""
    return float(settings.LIVEBLOG_SCHEDULER_HANDOFF) if scheduler_in_server() else 0.0


def scheduler_wake() -> None:
    """A post was scheduled (or rescheduled): each scheduler of this process looks again now."""
    with _wakers_lock:
        wakers = list(_wakers.items())
    for loop, event in wakers:
        if not loop.is_closed():
            loop.call_soon_threadsafe(event.set)


def publish_pass(*, delay: float = 0.0) -> tuple[list, datetime | None]:
    """Publish what was due `delay` seconds ago; the posts published, and the next due time."""
    # Imported here: services wake the schedulers, so they import this module.
    from .services import publish_due

    published = publish_due(now=timezone.now() - timedelta(seconds=delay))
    return published, post_next_due()


def scheduler_ensure() -> None:
    """Start this event loop's scheduler, if servers run it and it is not running yet."""
    if not scheduler_in_server():
        return
    loop = asyncio.get_running_loop()
    task = _tasks.get(loop)
    if task is None or task.done():
        _tasks[loop] = loop.create_task(_serve(), name="liveblog scheduler")


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    with _wakers_lock:
        _wakers[loop] = wake
    try:
        while True:
            wake.clear()
            try:
                _published, upcoming = await database_sync_to_async(publish_pass)()
            except Exception:  # a database blip must not end the scheduler
                logger.exception("liveblog scheduler: pass failed; retrying")
                upcoming = None
            wait = scheduler_wait(upcoming=upcoming, poll=settings.LIVEBLOG_SCHEDULER_POLL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=wait)
    finally:
        with _wakers_lock:
            _wakers.pop(loop, None)
