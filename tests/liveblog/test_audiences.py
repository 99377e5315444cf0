"""The audience table, one test per row, each checked on the readers' and the editors' stream.

Marked `stack`: these run on the embedded default and again on PostgreSQL + Redis.
"""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from liveblog import services
from liveblog.models import Post
from tests.support.orm import db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

State = Post.State
CREATED, UPDATED, DELETED = (
    "liveblog.post_created",
    "liveblog.post_updated",
    "liveblog.post_deleted",
)


async def seen(client) -> list[tuple[str, int]]:
    """(type, post id) of every event that arrives until the socket goes quiet.

    Also checks the seqs follow on from everything the client saw before, without a gap.
    """
    frames = []
    while not await client.nothing(within=0.3):
        frame = await client.receive()
        if frame["type"] != "presence":
            frames.append(frame)
    start = client.ready_seq
    assert [frame["seq"] for frame in frames] == list(range(start + 1, start + 1 + len(frames)))
    client.ready_seq += len(frames)
    return [(frame["type"], frame["post"]["id"]) for frame in frames]


@pytest.fixture
async def streams(watch, liveblog, editor):
    """(reader socket, editor socket) on the liveblog; closed after the test."""
    reader, editing = await watch(None, liveblog), await watch(editor, liveblog)
    yield reader, editing
    await reader.close()
    await editing.close()


def create(liveblog, editor, body="Hello", **kwargs) -> Post:
    return services.post_create(liveblog=liveblog, by=editor, body=body, **kwargs)


async def test_publishing_a_new_post_is_a_create_for_everyone(streams, liveblog, editor):
    reader, editing = streams
    post = await db(create)(liveblog, editor)
    assert await seen(reader) == [(CREATED, post.pk)]
    assert await seen(editing) == [(CREATED, post.pk)]


async def test_saving_a_draft_tells_readers_nothing(streams, liveblog, editor):
    reader, editing = streams
    post = await db(create)(liveblog, editor, body="Secret draft", state=State.DRAFT)
    assert await seen(reader) == []
    assert await seen(editing) == [(CREATED, post.pk)]


async def test_publishing_a_draft_is_a_create_for_readers_and_an_update_for_editors(
    streams, liveblog, editor
):
    reader, editing = streams
    post = await db(create)(liveblog, editor, state=State.DRAFT)
    await db(services.post_publish)(liveblog=liveblog, post_id=post.pk, by=editor)
    assert await seen(reader) == [(CREATED, post.pk)]
    assert await seen(editing) == [(CREATED, post.pk), (UPDATED, post.pk)]


async def test_unpublishing_is_a_delete_for_readers_and_an_update_for_editors(
    streams, watch, liveblog, editor
):
    reader, editing = streams
    post = await db(create)(liveblog, editor, body="Retracted claim")
    await db(services.post_unpublish)(liveblog=liveblog, post_id=post.pk, by=editor)
    assert await seen(reader) == [(CREATED, post.pk), (DELETED, post.pk)]
    assert await seen(editing) == [(CREATED, post.pk), (UPDATED, post.pk)]
    # The post is a draft again: a reader replaying from the start never sees its text.
    late = await watch(None, liveblog, after=0)
    assert await seen_frames_text(late) == ["liveblog.post_deleted"] * 2
    await late.close()


async def seen_frames_text(client) -> list[str]:
    """Types of the replayed frames, checking none carries a post's text."""
    types = []
    while (frame := await client.receive())["type"] != "stream.ready":
        if frame["type"] != "presence":
            assert set(frame["post"]) == {"id"}, frame
            types.append(frame["type"])
    return types


async def test_editing_a_published_post_is_an_update_for_everyone(streams, liveblog, editor):
    reader, editing = streams
    post = await db(create)(liveblog, editor)
    await db(services.post_update)(liveblog=liveblog, post_id=post.pk, by=editor, body="Fixed")
    reader_frames = await seen(reader)
    assert reader_frames == [(CREATED, post.pk), (UPDATED, post.pk)]
    assert await seen(editing) == [(CREATED, post.pk), (UPDATED, post.pk)]


async def test_editing_a_draft_tells_readers_nothing(streams, liveblog, editor):
    reader, editing = streams
    post = await db(create)(liveblog, editor, state=State.DRAFT)
    await db(services.post_update)(liveblog=liveblog, post_id=post.pk, by=editor, body="v2")
    assert await seen(reader) == []
    assert await seen(editing) == [(CREATED, post.pk), (UPDATED, post.pk)]


async def test_deleting_a_published_post_is_a_delete_for_everyone_and_forgets_its_text(
    streams, watch, liveblog, editor
):
    reader, editing = streams
    post = await db(create)(liveblog, editor, body="Wrong name")
    await db(services.post_update)(liveblog=liveblog, post_id=post.pk, by=editor, body="Typo")
    await db(services.post_delete)(liveblog=liveblog, post_id=post.pk, by=editor)
    expected = [(CREATED, post.pk), (UPDATED, post.pk), (DELETED, post.pk)]
    assert await seen(reader) == expected
    assert await seen(editing) == expected
    for user in (None, editor):
        late = await watch(user, liveblog, after=0)
        assert await seen_frames_text(late) == [DELETED] * 3
        await late.close()


async def test_deleting_a_draft_tells_readers_nothing(streams, liveblog, editor):
    reader, editing = streams
    post = await db(create)(liveblog, editor, state=State.DRAFT)
    await db(services.post_delete)(liveblog=liveblog, post_id=post.pk, by=editor)
    assert await seen(reader) == []
    assert await seen(editing) == [(CREATED, post.pk), (DELETED, post.pk)]


async def test_a_scheduled_post_is_a_draft_until_its_time_then_a_publish(streams, liveblog, editor):
    reader, editing = streams
    at = timezone.now() + timedelta(minutes=5)
    post = await db(create)(liveblog, editor, body="Later", state=State.SCHEDULED, publish_at=at)
    assert await db(services.publish_due)() == []
    assert await seen(reader) == []
    assert await seen(editing) == [(CREATED, post.pk)]
    published = await db(services.publish_due)(now=at)
    assert [p.pk for p in published] == [post.pk]
    assert await seen(reader) == [(CREATED, post.pk)]
    assert await seen(editing) == [(UPDATED, post.pk)]
    # A second pass (another scheduler) finds nothing left to publish.
    assert await db(services.publish_due)(now=at) == []


async def test_pinning_unpins_the_previous_post_for_everyone(streams, liveblog, editor):
    reader, editing = streams
    first = await db(create)(liveblog, editor, body="First", pinned=True)
    second = await db(create)(liveblog, editor, body="Second")
    await db(services.post_update)(liveblog=liveblog, post_id=second.pk, by=editor, pinned=True)
    expected = [
        (CREATED, first.pk),
        (CREATED, second.pk),
        (UPDATED, first.pk),
        (UPDATED, second.pk),
    ]
    assert await seen(reader) == expected
    assert await seen(editing) == expected
    await db(first.refresh_from_db)()
    await db(second.refresh_from_db)()
    assert (first.pinned, second.pinned) == (False, True)


async def test_marking_a_key_event_is_an_update_for_everyone(streams, liveblog, editor):
    reader, editing = streams
    post = await db(create)(liveblog, editor)
    await db(services.post_update)(liveblog=liveblog, post_id=post.pk, by=editor, key_event=True)
    for client in (reader, editing):
        assert await seen(client) == [(CREATED, post.pk), (UPDATED, post.pk)]


async def test_ending_a_liveblog_tells_everyone(streams, liveblog, editor):
    for client in streams:
        await client.no_events()
    await db(services.liveblog_update)(liveblog=liveblog, by=editor, ended=True)
    for client in streams:
        (frame,) = await client.events(1)
        assert frame["type"] == "liveblog.updated"
        assert frame["liveblog"]["ended_at"] is not None


async def test_readers_never_receive_draft_content(streams, watch, liveblog, editor):
    """Drafts, their edits, scheduling and deletion: no reader frame, live or replayed, has them."""
    reader, _ = streams
    draft = await db(create)(liveblog, editor, body="DRAFT-TEXT", state=State.DRAFT)
    await db(services.post_update)(liveblog=liveblog, post_id=draft.pk, by=editor, body="DRAFT-2")
    await db(services.post_update)(
        liveblog=liveblog,
        post_id=draft.pk,
        by=editor,
        state=State.SCHEDULED,
        publish_at=timezone.now() + timedelta(hours=1),
    )
    await db(create)(liveblog, editor, body="Public")
    late = await watch(None, liveblog, after=0)
    for client in (reader, late):
        frames = []
        while not await client.nothing(within=0.3):
            frames.append(await client.receive())
        assert "DRAFT" not in str(frames)
        events = [frame["type"] for frame in frames if frame["type"].startswith("liveblog.")]
        assert events == [CREATED]
    await late.close()


async def test_a_rolled_back_write_broadcasts_nothing(streams, liveblog, editor):
    reader, editing = streams

    def publish_then_fail():
        with transaction.atomic():
            create(liveblog, editor, body="Never happened")
            raise RuntimeError("the rest of the request failed")

    with pytest.raises(RuntimeError):
        await db(publish_then_fail)()
    assert await reader.no_events(within=0.5)
    assert await editing.no_events(within=0.5)
    assert await db(Post.objects.count)() == 0
    # The seqs were given back: the next change is seq 1 on both streams.
    post = await db(create)(liveblog, editor)
    assert await seen(reader) == [(CREATED, post.pk)]
    assert await seen(editing) == [(CREATED, post.pk)]
