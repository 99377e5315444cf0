"""When the scheduler sleeps, and the server's own scheduler on the embedded default."""

import asyncio
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from liveblog import scheduler, services
from liveblog.models import Post
from tests.support.orm import db
from tests.support.stack import ON_REDIS_STACK

State = Post.State


def test_the_scheduler_sleeps_until_the_next_post_is_due_but_never_past_the_poll():
    soon = timezone.now() + timedelta(seconds=0.5)
    assert 0 < scheduler.scheduler_wait(upcoming=soon, poll=1.0) <= 0.5
    assert scheduler.scheduler_wait(upcoming=soon + timedelta(hours=1), poll=1.0) == 1.0
    assert scheduler.scheduler_wait(upcoming=None, poll=1.0) == 1.0
    overdue = timezone.now() - timedelta(seconds=5)
    assert scheduler.scheduler_wait(upcoming=overdue, poll=1.0) == 0.0
    # A worker holding back for the server wakes `delay` after the due time.
    assert 2 < scheduler.scheduler_wait(upcoming=soon, poll=10.0, delay=2.0) <= 2.5


@pytest.mark.skipif(ON_REDIS_STACK, reason="only an in-memory layer keeps broadcasts in-process")
def test_on_the_in_memory_layer_servers_publish_and_the_worker_holds_back(settings):
    settings.LIVEBLOG_SCHEDULER_IN_SERVER = True
    settings.LIVEBLOG_SCHEDULER_HANDOFF = 2
    assert scheduler.scheduler_in_server() and scheduler.worker_delay() == 2.0
    settings.LIVEBLOG_SCHEDULER_IN_SERVER = False
    assert not scheduler.scheduler_in_server() and scheduler.worker_delay() == 0.0


async def published(post: Post, within: float = 10) -> Post:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await db(post.refresh_from_db)()
        if post.state == State.PUBLISHED:
            return post
        await asyncio.sleep(0.05)
    raise AssertionError(f"post {post.pk} was not published within {within} s")


@pytest.mark.skipif(ON_REDIS_STACK, reason="only an in-memory layer keeps broadcasts in-process")
@pytest.mark.django_db(transaction=True)
async def test_a_post_scheduled_here_wakes_the_servers_scheduler(settings, watch, liveblog, editor):
    settings.LIVEBLOG_SCHEDULER_IN_SERVER = True
    # Asleep for a minute: only the wake-up can make it publish within the test.
    settings.LIVEBLOG_SCHEDULER_POLL = 60
    reader = await watch(None, liveblog)  # the first liveblog socket starts the scheduler
    try:
        post = await db(services.post_create)(
            liveblog=liveblog,
            by=editor,
            body="On the dot",
            state=State.SCHEDULED,
            publish_at=timezone.now() + timedelta(seconds=0.5),
        )
        due = post.publish_at
        post = await published(post)
        assert post.published_at >= due  # never early
        # Published by this process, so its broadcast reaches the socket live.
        frame = await reader.receive_type("liveblog.post_created")
        assert frame["post"]["id"] == post.pk
    finally:
        await reader.close()
        for task in list(scheduler._tasks.values()):
            task.cancel()
