"""The liveblog socket on the real ASGI application (routing, origin check and auth included).

Marked `stack`: these run on the embedded default and again on PostgreSQL + Redis.
"""

import pytest
from django.test import Client

from liveblog import services
from liveblog.models import LiveblogEvent, Post
from tests.support.orm import db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]


async def test_anyone_may_listen_to_a_liveblog_that_exists(watch, liveblog, make_user):
    for user in (None, await db(make_user)()):
        client = await watch(user, liveblog)
        assert client.ready_seq == 0
        await client.close()
    assert await watch(None, "no-such-liveblog", expect=False) is None
    assert await watch(None, liveblog, origin="https://evil.example", expect=False) is None


async def test_the_socket_only_listens(watch, liveblog, editor, make_user):
    """Readers and editors alike: anything but ping and sync is not allowed, and writes nothing."""
    frames = [
        {"type": "liveblog.publish", "body": "hello"},
        {"type": "chat.send", "body": "hello", "client_id": "x"},
        {"type": "liveblog.delete", "id": 1},
        {"body": "no type"},
        {"type": ["ping"]},
        {"type": {"type": "ping"}},
    ]
    for user in (None, await db(make_user)(), editor):
        client = await watch(user, liveblog)
        for frame in frames:
            await client.send(frame)
            error = await client.receive_type("error")
            assert error["code"] == "not_allowed", frame
        await client.send_text("{not json")
        assert (await client.receive_type("error"))["code"] == "invalid_json"
        await client.send({"type": "ping", "extra": 1})
        assert (await client.receive_type("error"))["code"] == "invalid_frame"
        assert (await client.ping())["seq"] == 0  # still open and answering
        await client.close()
    assert await db(Post.objects.count)() == 0
    assert await db(LiveblogEvent.objects.count)() == 0


async def test_a_reader_resumes_with_exactly_what_was_missed(watch, liveblog, editor):
    reader = await watch(None, liveblog)
    first = await db(services.post_create)(liveblog=liveblog, by=editor, body="one")
    (seen,) = await reader.events(1)
    await reader.close()

    second = await db(services.post_create)(liveblog=liveblog, by=editor, body="two")
    await db(services.post_create)(liveblog=liveblog, by=editor, body="draft", state="draft")
    await db(services.post_update)(liveblog=liveblog, post_id=first.pk, by=editor, body="one!")
    await db(services.post_delete)(liveblog=liveblog, post_id=second.pk, by=editor)

    reader = await watch(None, liveblog, after=seen["seq"])
    frames = await reader.events(3)
    assert [(f["seq"], f["type"]) for f in frames] == [
        (2, "liveblog.post_deleted"),  # "two", created then deleted: its text is gone
        (3, "liveblog.post_updated"),
        (4, "liveblog.post_deleted"),
    ]
    assert frames[1]["post"]["summary"] == "one!"
    assert (await reader.receive_type("stream.ready"))["seq"] == 4
    await reader.close()


async def test_the_reader_count_covers_readers_and_editors_without_names(watch, liveblog, editor):
    reader = await watch(None, liveblog)
    assert (await reader.receive_type("presence"))["count"] == 1
    editing = await watch(editor, liveblog)
    while (await reader.receive_type("presence"))["count"] != 2:
        pass
    await editing.close()
    while (await reader.receive_type("presence"))["count"] != 1:
        pass
    await reader.close()


def admin_client(make_user) -> Client:
    client = Client()
    client.force_login(make_user(username="boss", is_staff=True, is_superuser=True))
    return client


async def test_a_post_published_from_the_admin_reaches_a_connected_reader(
    watch, liveblog, make_user
):
    reader = await watch(None, liveblog)
    admin = await db(admin_client)(make_user)
    response = await db(admin.post)(
        "/admin/liveblog/post/add/",
        {
            "liveblog": liveblog.pk,
            "body": "From the *admin*",
            "state": "published",
            "publish_at_0": "",
            "publish_at_1": "",
            "key_event": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    (frame,) = await reader.events(1)
    assert frame["type"] == "liveblog.post_created"
    assert frame["post"]["html"] == "<p>From the <em>admin</em></p>"
    assert frame["post"]["key_event"] is True

    post = await db(Post.objects.get)()
    response = await db(admin.post)(
        f"/admin/liveblog/post/{post.pk}/change/",
        {"body": "Corrected", "state": "published", "publish_at_0": "", "publish_at_1": ""},
    )
    assert response.status_code == 302
    (frame,) = await reader.events(1)
    assert frame["type"] == "liveblog.post_updated" and frame["post"]["summary"] == "Corrected"

    response = await db(admin.post)(f"/admin/liveblog/post/{post.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    (frame,) = await reader.events(1)
    assert frame == {"type": "liveblog.post_deleted", "seq": 3, "post": {"id": post.pk}}
    await reader.close()
