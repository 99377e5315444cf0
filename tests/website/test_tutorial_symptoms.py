"""The symptoms the chapters' "If it didn't work" boxes quote, each made to happen.

Each test makes one of the usual mistakes on purpose and checks that what a
reader would see is what the chapter says. Sections follow the chapters.
"""

import asyncio
import json
import re
import time
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.test import override_settings
from django.utils import timezone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chat.services import room_create
from liveblog import services as liveblog_services
from liveblog.models import Post
from liveblog.protocol import READER_SERVER
from project.settings.base import channel_layers
from streams.hub import CLOSE_UNAVAILABLE
from tests.support.harness import REPO, free_port
from tests.support.orm import db
from tests.support.sockets import socket_opener

ANSWER_TIMEOUT = 10


def chapter_text(name: str) -> str:
    return (REPO / "docs" / "tutorial" / name).read_text()


def quoted(chapter: str, text: str) -> str:
    """`text`, after checking that the chapter's box quotes it (line breaks aside)."""
    box = chapter_text(chapter).split("> **If it didn't work**", 1)[1]
    flat = re.sub(r"\s*\n>\s*", " ", box)
    assert text in flat, f"{chapter} does not quote {text!r}"
    return text


async def next_frame(socket, frame_type: str) -> dict:
    """The next frame of `frame_type` on a live socket, skipping others."""
    async with asyncio.timeout(ANSWER_TIMEOUT):
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] == frame_type:
                return frame


# Chapter 8: the liveblog ---------------------------------------------------------

CHAPTER_8 = "08-the-liveblog.md"


@pytest.mark.django_db(transaction=True)
async def test_chapter_8_a_post_saved_through_the_orm_reaches_no_reader(login_cookie, editor):
    liveblog = await db(liveblog_services.liveblog_create)(title="Launch", by=editor)
    post = await db(liveblog_services.post_create)(liveblog=liveblog, by=editor, body="First")
    open_socket = socket_opener(login_cookie, lambda user: READER_SERVER, {"presence"})
    reader = await open_socket(None, f"/ws/liveblog/{liveblog.slug}/")

    # The mistake: saving the model instead of calling the service.
    post.body = "Changed in the shell"
    await db(post.save)()
    # A change made through a service after it, which readers must be told of.
    await db(liveblog_services.liveblog_update)(liveblog=liveblog, by=editor, title="Later")

    (frame,) = await reader.events(1)
    assert frame["type"] == "liveblog.updated"
    assert frame["seq"] == reader.ready_seq + 1
    assert quoted(CHAPTER_8, "you saved the model yourself")
    await reader.close()


@pytest.mark.django_db
def test_chapter_8_a_service_called_with_positional_arguments_is_a_type_error(editor):
    liveblog = liveblog_services.liveblog_create(title="Launch", by=editor)
    message = quoted(
        CHAPTER_8,
        "post_create() takes 0 positional arguments but 2 positional arguments"
        " (and 1 keyword-only argument) were given",
    )

    with pytest.raises(TypeError) as error:
        liveblog_services.post_create(liveblog, editor, body="Hello")  # type: ignore[misc]

    assert str(error.value) == message


@pytest.mark.django_db
def test_chapter_8_a_service_called_by_someone_not_an_editor_is_refused(make_user, editor):
    liveblog = liveblog_services.liveblog_create(title="Launch", by=editor)

    with pytest.raises(PermissionDenied) as error:
        liveblog_services.post_create(liveblog=liveblog, by=make_user(), body="Hello")

    shown = f"{type(error.value).__module__}.{type(error.value).__name__}: {error.value}"
    assert shown == quoted(
        CHAPTER_8, "django.core.exceptions.PermissionDenied: Only liveblog editors can do that."
    )


@pytest.mark.django_db
def test_chapter_8_without_a_worker_a_scheduled_post_stays_scheduled_past_its_time(client, editor):
    liveblog = liveblog_services.liveblog_create(title="Launch", by=editor)
    post = liveblog_services.post_create(
        liveblog=liveblog,
        by=editor,
        body="Due at once",
        state=Post.State.SCHEDULED,
        publish_at=timezone.now() + timedelta(seconds=0.2),
    )
    # No worker runs here: let the post's time pass (the clock is the condition).
    time.sleep((post.publish_at - timezone.now()).total_seconds() + 0.05)
    assert timezone.now() > post.publish_at
    client.force_login(editor)

    page = client.get(f"/live/{liveblog.slug}/").content.decode()

    post.refresh_from_db()
    assert post.state == Post.State.SCHEDULED
    assert quoted(CHAPTER_8, 'A scheduled post stays "Scheduled for"')
    assert "Scheduled for" in page.split("Drafts and scheduled", 1)[1]


# Chapter 9: Redis and more than one process ------------------------------------------

CHAPTER_9 = "09-redis-and-many-processes.md"


@pytest.mark.django_db
async def test_chapter_9_with_nothing_at_redis_url_healthz_names_the_channel_layer(
    async_client,
):
    nobody = f"redis://127.0.0.1:{free_port()}/0"

    with override_settings(CHANNEL_LAYERS=channel_layers(nobody)):
        response = await async_client.get("/healthz")

    assert response.status_code == 503
    assert response.content.decode() == quoted(
        CHAPTER_9, '{"database": "ok", "channel_layer": "error: ConnectionError"}'
    )


@pytest.fixture
def chatters(make_user, login_cookie):
    ann, bob = make_user(username="ann"), make_user(username="bob")
    room = room_create(name="Two processes", created_by=ann)
    return f"/ws/chat/{room.slug}/", login_cookie(ann), login_cookie(bob)


def socket_on(server, path: str, cookie: str):
    return connect(
        server.ws_url + path, origin=server.origin, additional_headers={"Cookie": cookie}
    )


@pytest.mark.django_db(transaction=True)
async def test_chapter_9_two_processes_on_the_in_memory_layer_do_not_hear_each_other(
    daphne_factory, chatters
):
    path, ann_cookie, bob_cookie = chatters
    # The mistake: no REDIS_URL, so each process has an in-memory layer of its own.
    first, second = daphne_factory(REDIS_URL=None), daphne_factory(REDIS_URL=None)

    async with (
        socket_on(first, path, ann_cookie) as ann,
        socket_on(second, path, bob_cookie) as bob,
    ):
        await next_frame(ann, "stream.ready")
        await next_frame(bob, "stream.ready")
        await ann.send(json.dumps({"type": "chat.send", "body": "from one", "client_id": "a1"}))
        assert (await next_frame(ann, "chat.message"))["seq"] == 1
        await bob.send(json.dumps({"type": "chat.send", "body": "from two", "client_id": "b1"}))

        # Bob's own message is the first he hears: ann's, committed before it, never came.
        heard = await next_frame(bob, "chat.message")
        assert (heard["seq"], heard["message"]["body"]) == (2, "from two")
        # What the page's next ping tells it: it is behind, and asks for the gap.
        await bob.send(json.dumps({"type": "ping"}))
        assert (await next_frame(bob, "pong"))["seq"] == 2
    assert quoted(CHAPTER_9, "see each other's messages only after a reload")


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
async def test_chapter_9_a_socket_timeout_below_the_blocking_receive_closes_idle_sockets(
    daphne_factory, fresh_redis, chatters
):
    path, ann_cookie, _ = chatters
    # The mistake: a socket timeout under the layer's 5 s blocking receive.
    server = daphne_factory(REDIS_URL=fresh_redis.url, REDIS_SOCKET_TIMEOUT="1")

    async with socket_on(server, path, ann_cookie) as ann:
        await next_frame(ann, "stream.ready")
        with pytest.raises(ConnectionClosed) as closed:
            await next_frame(ann, "never sent")

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CLOSE_UNAVAILABLE
    log = server.log()
    assert quoted(CHAPTER_9, "hub: receiving from the channel layer failed; retrying") in log
    assert re.search(r"^redis\.exceptions\.TimeoutError: Timeout reading from ", log, re.M)
    assert quoted(CHAPTER_9, "redis.exceptions.TimeoutError: Timeout reading from …")
