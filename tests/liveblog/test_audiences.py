"""The audience table, one test per row, each checked on the readers' and the editors' stream.

What a socket is not told is checked against a later change it must be told
of (see `Audiences.retitle`), never by waiting for a quiet socket.

Marked `stack`: these run on the embedded default and again on PostgreSQL + Redis.
"""

from datetime import timedelta
from typing import NamedTuple

import pytest
from django.db import transaction
from django.utils import timezone

from liveblog import services
from liveblog.models import Post
from tests.support.orm import db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

State = Post.State
CREATED, UPDATED, DELETED, LIVEBLOG_UPDATED = (
    "liveblog.post_created",
    "liveblog.post_updated",
    "liveblog.post_deleted",
    "liveblog.updated",
)


class Seen(NamedTuple):
    """(type, post id) of the events each audience's socket received."""

    readers: list[tuple[str, int]]
    editors: list[tuple[str, int]]


class Audiences:
    """A reader's socket and an editor's on one liveblog, and what each is told."""

    def __init__(self, reader, editing, liveblog, editor) -> None:
        self.reader, self.editing = reader, editing
        self.liveblog, self.editor = liveblog, editor
        self.retitles = 0

    @property
    def sockets(self) -> tuple:
        return self.reader, self.editing

    async def retitle(self) -> str:
        """Retitle the liveblog, a change both audiences must be told of; return the title.

        Its frames are broadcast after those of everything the test did before,
        to the same groups through the same channel layer, so whatever either
        socket was going to receive arrives before them: a sentinel.
        """
        self.retitles += 1
        title = f"Launch day, take {self.retitles}"
        await db(services.liveblog_update)(liveblog=self.liveblog, by=self.editor, title=title)
        return title

    async def seen(self) -> Seen:
        """What each socket received since the last time, up to a retitle made now.

        Also checks that the seqs, the retitle's included, follow on from
        everything the socket saw before, without a gap.
        """
        title = await self.retitle()
        return Seen(await told(self.reader, title), await told(self.editing, title))


def is_retitle(frame: dict, title: str) -> bool:
    return frame["type"] == LIVEBLOG_UPDATED and frame["liveblog"]["title"] == title


async def up_to_retitle(client, title: str) -> list[dict]:
    """The frames but presence that `client` receives, up to and including the retitle."""
    frames = []
    while not frames or not is_retitle(frames[-1], title):
        if (frame := await client.receive())["type"] != "presence":
            frames.append(frame)
    return frames


async def told(client, title: str) -> list[tuple[str, int]]:
    """(type, post id) of the events `client` receives before the retitle to `title`."""
    frames = await up_to_retitle(client, title)
    start = client.ready_seq
    assert [frame["seq"] for frame in frames] == list(range(start + 1, start + 1 + len(frames)))
    client.ready_seq += len(frames)
    return [(frame["type"], frame["post"]["id"]) for frame in frames[:-1]]


async def replayed(client) -> list[str]:
    """Types of the frames replayed up to `stream.ready`, checking no post frame carries text."""
    types = []
    while (frame := await client.receive())["type"] != "stream.ready":
        if frame["type"] in {CREATED, UPDATED, DELETED}:
            assert set(frame["post"]) == {"id"}, frame
        if frame["type"] != "presence":
            types.append(frame["type"])
    return types


@pytest.fixture
async def audiences(watch, liveblog, editor):
    """A reader's and an editor's socket on the liveblog; closed after the test."""
    reader, editing = await watch(None, liveblog), await watch(editor, liveblog)
    yield Audiences(reader, editing, liveblog, editor)
    await reader.close()
    await editing.close()


def create(liveblog, editor, body="Hello", **kwargs) -> Post:
    return services.post_create(liveblog=liveblog, by=editor, body=body, **kwargs)


async def test_publishing_a_new_post_is_a_create_for_everyone(audiences, liveblog, editor):
    post = await db(create)(liveblog, editor)
    assert await audiences.seen() == Seen(
        readers=[(CREATED, post.pk)], editors=[(CREATED, post.pk)]
    )


async def test_saving_a_draft_tells_readers_nothing(audiences, liveblog, editor):
    post = await db(create)(liveblog, editor, body="Secret draft", state=State.DRAFT)
    assert await audiences.seen() == Seen(readers=[], editors=[(CREATED, post.pk)])


async def test_publishing_a_draft_is_a_create_for_readers_and_an_update_for_editors(
    audiences, liveblog, editor
):
    post = await db(create)(liveblog, editor, state=State.DRAFT)
    await db(services.post_publish)(liveblog=liveblog, post_id=post.pk, by=editor)
    assert await audiences.seen() == Seen(
        readers=[(CREATED, post.pk)], editors=[(CREATED, post.pk), (UPDATED, post.pk)]
    )


async def test_unpublishing_is_a_delete_for_readers_and_an_update_for_editors(
    audiences, watch, liveblog, editor
):
    post = await db(create)(liveblog, editor, body="Retracted claim")
    await db(services.post_unpublish)(liveblog=liveblog, post_id=post.pk, by=editor)
    assert await audiences.seen() == Seen(
        readers=[(CREATED, post.pk), (DELETED, post.pk)],
        editors=[(CREATED, post.pk), (UPDATED, post.pk)],
    )
    # The post is a draft again: a reader replaying from the start never sees its text.
    late = await watch(None, liveblog, after=0)
    # (The last frame is the retitle `seen` made.)
    assert await replayed(late) == [DELETED, DELETED, LIVEBLOG_UPDATED]
    await late.close()


async def test_editing_a_published_post_is_an_update_for_everyone(audiences, liveblog, editor):
    post = await db(create)(liveblog, editor)
    await db(services.post_update)(liveblog=liveblog, post_id=post.pk, by=editor, body="Fixed")
    both = [(CREATED, post.pk), (UPDATED, post.pk)]
    assert await audiences.seen() == Seen(readers=both, editors=both)


async def test_editing_a_draft_tells_readers_nothing(audiences, liveblog, editor):
    post = await db(create)(liveblog, editor, state=State.DRAFT)
    await db(services.post_update)(liveblog=liveblog, post_id=post.pk, by=editor, body="v2")
    assert await audiences.seen() == Seen(
        readers=[], editors=[(CREATED, post.pk), (UPDATED, post.pk)]
    )


async def test_deleting_a_published_post_is_a_delete_for_everyone_and_forgets_its_text(
    audiences, watch, liveblog, editor
):
    post = await db(create)(liveblog, editor, body="Wrong name")
    await db(services.post_update)(liveblog=liveblog, post_id=post.pk, by=editor, body="Typo")
    await db(services.post_delete)(liveblog=liveblog, post_id=post.pk, by=editor)
    both = [(CREATED, post.pk), (UPDATED, post.pk), (DELETED, post.pk)]
    assert await audiences.seen() == Seen(readers=both, editors=both)
    for user in (None, editor):
        late = await watch(user, liveblog, after=0)
        assert await replayed(late) == [DELETED] * 3 + [LIVEBLOG_UPDATED]
        await late.close()


async def test_deleting_a_draft_tells_readers_nothing(audiences, liveblog, editor):
    post = await db(create)(liveblog, editor, state=State.DRAFT)
    await db(services.post_delete)(liveblog=liveblog, post_id=post.pk, by=editor)
    assert await audiences.seen() == Seen(
        readers=[], editors=[(CREATED, post.pk), (DELETED, post.pk)]
    )


async def test_a_scheduled_post_is_a_draft_until_its_time_then_a_publish(
    audiences, liveblog, editor
):
    at = timezone.now() + timedelta(minutes=5)
    post = await db(create)(liveblog, editor, body="Later", state=State.SCHEDULED, publish_at=at)
    assert await db(services.publish_due)() == []
    assert await audiences.seen() == Seen(readers=[], editors=[(CREATED, post.pk)])
    published = await db(services.publish_due)(now=at)
    assert [p.pk for p in published] == [post.pk]
    assert await audiences.seen() == Seen(
        readers=[(CREATED, post.pk)], editors=[(UPDATED, post.pk)]
    )
    # A second pass (another scheduler) finds nothing left to publish.
    assert await db(services.publish_due)(now=at) == []


async def test_pinning_unpins_the_previous_post_for_everyone(audiences, liveblog, editor):
    first = await db(create)(liveblog, editor, body="First", pinned=True)
    second = await db(create)(liveblog, editor, body="Second")
    await db(services.post_update)(liveblog=liveblog, post_id=second.pk, by=editor, pinned=True)
    both = [
        (CREATED, first.pk),
        (CREATED, second.pk),
        (UPDATED, first.pk),
        (UPDATED, second.pk),
    ]
    assert await audiences.seen() == Seen(readers=both, editors=both)
    await db(first.refresh_from_db)()
    await db(second.refresh_from_db)()
    assert (first.pinned, second.pinned) == (False, True)


async def test_marking_a_key_event_is_an_update_for_everyone(audiences, liveblog, editor):
    post = await db(create)(liveblog, editor)
    await db(services.post_update)(liveblog=liveblog, post_id=post.pk, by=editor, key_event=True)
    both = [(CREATED, post.pk), (UPDATED, post.pk)]
    assert await audiences.seen() == Seen(readers=both, editors=both)


async def test_ending_a_liveblog_tells_everyone(audiences, liveblog, editor):
    await db(services.liveblog_update)(liveblog=liveblog, by=editor, ended=True)
    for client in audiences.sockets:
        (frame,) = await client.events(1)
        assert (frame["type"], frame["seq"]) == (LIVEBLOG_UPDATED, client.ready_seq + 1)
        assert frame["liveblog"]["ended_at"] is not None


async def test_readers_never_receive_draft_content(audiences, watch, liveblog, editor):
    """Drafts, their edits and scheduling: no reader frame, live or replayed, has them."""
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
    title = await audiences.retitle()
    for client in (audiences.reader, late):
        frames = await up_to_retitle(client, title)
        assert "DRAFT" not in str(frames)
        events = [frame["type"] for frame in frames if frame["type"].startswith("liveblog.")]
        assert events == [CREATED, LIVEBLOG_UPDATED]
    await late.close()


async def test_a_rolled_back_write_broadcasts_nothing(audiences, liveblog, editor):
    def publish_then_fail():
        with transaction.atomic():
            create(liveblog, editor, body="Never happened")
            raise RuntimeError("the rest of the request failed")

    with pytest.raises(RuntimeError):
        await db(publish_then_fail)()
    assert await db(Post.objects.count)() == 0
    # The next change is the first event both sockets receive, and the seqs were
    # given back: it is seq 1 on both streams.
    post = await db(create)(liveblog, editor)
    assert (audiences.reader.ready_seq, audiences.editing.ready_seq) == (0, 0)
    assert await audiences.seen() == Seen(
        readers=[(CREATED, post.pk)], editors=[(CREATED, post.pk)]
    )
