"""Liveblog services: who may write, what they refuse, and what they store."""

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from liveblog import services
from liveblog.models import EDITORS, READERS, LiveblogEvent, Post
from liveblog.selectors import post_next_due, user_is_editor

pytestmark = pytest.mark.django_db
State = Post.State


def test_editors_are_superusers_and_the_group_members(make_user, editor):
    assert user_is_editor(editor)
    assert user_is_editor(make_user(is_superuser=True))
    assert not user_is_editor(make_user())
    assert not user_is_editor(make_user(is_superuser=True, is_active=False))


def test_every_write_refuses_a_non_editor(make_user, liveblog, editor):
    post = services.post_create(liveblog=liveblog, by=editor, body="x")
    reader = make_user()
    writes = [
        lambda: services.liveblog_create(title="Mine", by=reader),
        lambda: services.liveblog_update(liveblog=liveblog, by=reader, ended=True),
        lambda: services.post_create(liveblog=liveblog, by=reader, body="y"),
        lambda: services.post_update(liveblog=liveblog, post_id=post.pk, by=reader, body="z"),
        lambda: services.post_publish(liveblog=liveblog, post_id=post.pk, by=reader),
        lambda: services.post_delete(liveblog=liveblog, post_id=post.pk, by=reader),
    ]
    for write in writes:
        with pytest.raises(PermissionDenied):
            write()
    assert LiveblogEvent.objects.count() == 2  # the editor's post, once per audience


def test_bodies_and_schedules_are_checked(liveblog, editor):
    with pytest.raises(ValidationError):
        services.post_create(liveblog=liveblog, by=editor, body="   ")
    with pytest.raises(ValidationError):
        services.post_create(
            liveblog=liveblog,
            by=editor,
            body="late",
            state=State.SCHEDULED,
            publish_at=timezone.now() - timedelta(minutes=1),
        )
    with pytest.raises(ValidationError):
        services.post_create(liveblog=liveblog, by=editor, body="when?", state=State.SCHEDULED)
    assert not Post.objects.exists()


def test_an_ended_liveblog_takes_no_new_posts_until_reopened(liveblog, editor):
    services.liveblog_update(liveblog=liveblog, by=editor, ended=True)
    with pytest.raises(ValidationError):
        services.post_create(liveblog=liveblog, by=editor, body="after the end")
    services.liveblog_update(liveblog=liveblog, by=editor, ended=False)
    services.post_create(liveblog=liveblog, by=editor, body="reopened")


def test_slugs_are_made_from_titles_and_never_reused(make_liveblog):
    assert make_liveblog("Election night 2026").slug == "election-night-2026"
    with pytest.raises(ValidationError):
        make_liveblog("Election night 2026")
    with pytest.raises(ValidationError):
        make_liveblog("New")  # the address of the create form


def test_only_one_post_is_pinned(liveblog, editor):
    first = services.post_create(liveblog=liveblog, by=editor, body="1", pinned=True)
    second = services.post_create(liveblog=liveblog, by=editor, body="2", pinned=True)
    first.refresh_from_db()
    assert (first.pinned, second.pinned) == (False, True)


def test_republishing_keeps_the_first_publication_time(liveblog, editor):
    post = services.post_create(liveblog=liveblog, by=editor, body="x")
    first = post.published_at
    services.post_unpublish(liveblog=liveblog, post_id=post.pk, by=editor)
    post = services.post_publish(liveblog=liveblog, post_id=post.pk, by=editor)
    assert post.published_at == first


def test_editing_a_published_post_marks_it_edited(liveblog, editor):
    draft = services.post_create(liveblog=liveblog, by=editor, body="x", state=State.DRAFT)
    draft = services.post_update(liveblog=liveblog, post_id=draft.pk, by=editor, body="y")
    assert draft.edited_at is None
    post = services.post_create(liveblog=liveblog, by=editor, body="x")
    post = services.post_update(liveblog=liveblog, post_id=post.pk, by=editor, body="y")
    assert post.edited_at is not None


def test_markdown_is_rendered_and_cleaned(liveblog, editor):
    body = (
        "## Title\n\n<script>alert(1)</script>\n\n[click](javascript:alert(1))\n\n"
        '<img src=x onerror="alert(1)">\n\n![chart](https://example.com/c.png)'
    )
    post = services.post_create(liveblog=liveblog, by=editor, body=body)
    tags = elements(post.html)
    assert ("h2", []) in tags
    assert ("img", [("src", "https://example.com/c.png"), ("alt", "chart")]) in tags
    assert {tag for tag, _ in tags} <= {"h2", "p", "a", "img"}
    for _, attributes in tags:
        for name, value in attributes:
            assert not name.startswith("on") and not value.startswith("javascript")
    # The raw HTML is still there, as text.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in post.html


def elements(html: str) -> list[tuple[str, list]]:
    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(html)
    return found


def test_each_audience_has_its_own_gap_free_seq(liveblog, editor):
    post = services.post_create(liveblog=liveblog, by=editor, body="d", state=State.DRAFT)
    services.post_update(liveblog=liveblog, post_id=post.pk, by=editor, body="d2")
    services.post_publish(liveblog=liveblog, post_id=post.pk, by=editor)
    services.post_create(liveblog=liveblog, by=editor, body="p")
    liveblog.refresh_from_db()
    for audience, head in ((READERS, 2), (EDITORS, 4)):
        seqs = list(LiveblogEvent.objects.filter(audience=audience).values_list("seq", flat=True))
        assert seqs == list(range(1, head + 1))
        assert getattr(liveblog, f"{audience}_seq") == head


def test_scheduled_posts_due_are_published_once_in_time_order(liveblog, editor):
    soon = timezone.now() + timedelta(seconds=30)
    later = services.post_create(
        liveblog=liveblog,
        by=editor,
        body="b",
        state=State.SCHEDULED,
        publish_at=soon + timedelta(seconds=1),
    )
    first = services.post_create(
        liveblog=liveblog, by=editor, body="a", state=State.SCHEDULED, publish_at=soon
    )
    assert post_next_due() == soon
    published = services.publish_due(now=soon + timedelta(seconds=5))
    assert [post.pk for post in published] == [first.pk, later.pk]
    assert services.publish_due(now=soon + timedelta(seconds=5)) == []
    assert post_next_due() is None
