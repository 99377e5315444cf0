# region: audience-table
"""Liveblog writes. Each commits under the liveblog's row lock, then broadcasts.

Every change to a post is judged by each audience in turn: could it see the
post before the change, and can it see it after?

    before  after   that audience receives
    no      yes     liveblog.post_created
    yes     yes     liveblog.post_updated
    yes     no      liveblog.post_deleted (and earlier frames about the post are
                    rewritten into deletes, so no replay brings its text back)
    no      no      nothing

Readers see published posts; editors see every post that is not deleted. So
publishing a draft is a create for readers and an update for editors,
unpublishing is a delete for readers, and a draft's edit tells readers nothing.
Views, the admin, the socket and the scheduler all write through these functions.
"""
# endregion

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from streams.log import stream_append, stream_claim, stream_rewrite
from streams.markdown import render_article
from streams.schemas import Frame, Schema
from streams.text import slug_create, text_clean

from .models import AUDIENCES, READERS, Liveblog, Post
from .protocol import MAX_BODY, SEEN, GonePost, LiveblogDetails, LiveblogUpdated, PostDeleted
from .scheduler import scheduler_wake
from .selectors import user_is_editor

State = Post.State
# Events about the liveblog itself (not a post) carry this subject id.
LIVEBLOG_SUBJECT = 0
# How many due posts one pass of the scheduler publishes at most.
DUE_BATCH = 100


def _require_editor(user) -> None:
    if not user_is_editor(user):
        raise PermissionDenied("Only liveblog editors can do that.")


# Liveblogs -------------------------------------------------------------------------


def liveblog_create(*, title: str, by, slug: str = "", description: str = "") -> Liveblog:
    _require_editor(by)
    title = title.strip()
    if not title:
        raise ValidationError({"title": "A liveblog needs a title."})
    return slug_create(
        Liveblog,
        source=slug or title,
        field="slug",
        reserved=frozenset({"new"}),
        title=title,
        description=description.strip(),
        created_by=by,
    )


def liveblog_update(
    *,
    liveblog: Liveblog,
    by,
    title: str | None = None,
    description: str | None = None,
    ended: bool | None = None,
) -> Liveblog:
    """Retitle, redescribe, end or reopen a liveblog; both audiences are told."""
    _require_editor(by)
    if title is not None and not title.strip():
        raise ValidationError({"title": "A liveblog needs a title."})
    with transaction.atomic():
        liveblog = Liveblog.objects.select_for_update().get(pk=liveblog.pk)
        if title is not None:
            liveblog.title = title.strip()
        if description is not None:
            liveblog.description = description.strip()
        if ended is not None and ended == liveblog.is_live:
            liveblog.ended_at = timezone.now() if ended else None
        liveblog.save(update_fields=["title", "description", "ended_at"])
        details = LiveblogDetails.of(liveblog)
        for audience in AUDIENCES:
            _log(liveblog, audience, LiveblogUpdated, subject_id=LIVEBLOG_SUBJECT, liveblog=details)
    return liveblog


# Posts ---------------------------------------------------------------------------------


def _clean_body(body: str) -> str:
    return text_clean(body, limit=MAX_BODY, field="body", noun="An update")


def _check_schedule(state: str, publish_at: datetime | None) -> None:
    if state == State.SCHEDULED and (publish_at is None or publish_at <= timezone.now()):
        raise ValidationError({"publish_at": "Choose a time in the future."})


def _set_state(post: Post, state: str, publish_at: datetime | None, now: datetime) -> None:
    post.state = state
    post.publish_at = publish_at if state == State.SCHEDULED else None
    if state == State.SCHEDULED:
        # A scheduler of this process may be asleep past the new time.
        transaction.on_commit(scheduler_wake)
    if state == State.PUBLISHED and post.published_at is None:
        post.published_at = now


def post_create(
    *,
    liveblog: Liveblog,
    by,
    body: str,
    state: str = State.PUBLISHED,
    publish_at: datetime | None = None,
    pinned: bool = False,
    key_event: bool = False,
) -> Post:
    """Write a new update: published now, saved as a draft, or scheduled for `publish_at`."""
    _require_editor(by)
    body = _clean_body(body)
    _check_schedule(state, publish_at)
    with transaction.atomic():
        liveblog = Liveblog.objects.select_for_update().get(pk=liveblog.pk)
        if not liveblog.is_live:
            raise ValidationError("This liveblog has ended.")
        post = Post(
            liveblog=liveblog,
            author=by,
            body=body,
            html=render_article(body),
            key_event=key_event,
            pinned=pinned,
        )
        if pinned:
            _unpin_others(liveblog, post)
        _set_state(post, state, publish_at, timezone.now())
        post.save()
        _tell_audiences(liveblog, post, before={audience: False for audience in AUDIENCES})
    return post


def post_update(
    *,
    liveblog: Liveblog,
    post_id: int,
    by,
    body: str | None = None,
    state: str | None = None,
    publish_at: datetime | None = None,
    pinned: bool | None = None,
    key_event: bool | None = None,
) -> Post:
    """Change any of a post's text, state, schedule, pin and key-event mark at once.

    Only what is passed changes. Pinning a post unpins the one pinned before.
    """
    _require_editor(by)
    if body is not None:
        body = _clean_body(body)
    if state is not None:
        _check_schedule(state, publish_at)
    with transaction.atomic():
        liveblog = Liveblog.objects.select_for_update().get(pk=liveblog.pk)
        post = liveblog.posts.select_for_update().get(pk=post_id, deleted_at__isnull=True)
        changes: dict[str, Any] = {}
        if pinned is not None and pinned != post.pinned:
            if pinned:
                _unpin_others(liveblog, post)
            changes["pinned"] = pinned
        if body is not None and body != post.body:
            changes |= {"body": body, "html": render_article(body)}
            if post.is_published or post.published_at is not None:
                changes["edited_at"] = timezone.now()
        if key_event is not None and key_event != post.key_event:
            changes["key_event"] = key_event
        if state is not None or changes:
            _change(liveblog, post, state=state, publish_at=publish_at, **changes)
    return post


def post_publish(*, liveblog: Liveblog, post_id: int, by) -> Post:
    return post_update(liveblog=liveblog, post_id=post_id, by=by, state=State.PUBLISHED)


def post_unpublish(*, liveblog: Liveblog, post_id: int, by) -> Post:
    """Take a post back to the drafts: readers see it go."""
    return post_update(liveblog=liveblog, post_id=post_id, by=by, state=State.DRAFT)


def post_delete(*, liveblog: Liveblog, post_id: int, by) -> Post:
    _require_editor(by)
    with transaction.atomic():
        liveblog = Liveblog.objects.select_for_update().get(pk=liveblog.pk)
        post = liveblog.posts.select_for_update().get(pk=post_id, deleted_at__isnull=True)
        _change(liveblog, post, deleted_at=timezone.now(), pinned=False)
    return post


# region: publish-due
def publish_due(*, now: datetime | None = None) -> list[Post]:
    """Publish the scheduled posts whose time has come (the scheduler's job).

    Each post is re-read under its liveblog's lock, so two schedulers, or an
    editor changing the post meanwhile, never publish it twice.
    """
    now = now or timezone.now()
    due = Post.objects.filter(state=State.SCHEDULED, publish_at__lte=now, deleted_at__isnull=True)
    published = []
    for liveblog_id, post_id in due.order_by("publish_at").values_list("liveblog_id", "pk")[
        :DUE_BATCH
    ]:
        with transaction.atomic():
            liveblog = Liveblog.objects.select_for_update().get(pk=liveblog_id)
            post = due.select_for_update().filter(pk=post_id).first()
            if post is not None:
                _change(liveblog, post, state=State.PUBLISHED)
                published.append(post)
    return published


# endregion


# Inside the transaction ---------------------------------------------------------------


def _unpin_others(liveblog: Liveblog, post: Post) -> None:
    """Before `post` is pinned: unpin whichever post was (told as that post's own update)."""
    pinned = liveblog.posts.select_for_update().filter(pinned=True, deleted_at__isnull=True)
    for other in pinned.exclude(pk=post.pk):
        _change(liveblog, other, pinned=False)


# region: post-change
def _change(
    liveblog: Liveblog,
    post: Post,
    *,
    state: str | None = None,
    publish_at: datetime | None = None,
    **changes,
) -> None:
    """Apply `changes` (and a new `state`, if given) to `post`, then log what each audience saw."""
    before = {audience: post.visible_to(audience) for audience in AUDIENCES}
    for field, value in changes.items():
        setattr(post, field, value)
    if state is not None:
        _set_state(post, state, publish_at, timezone.now())
    post.save()
    _tell_audiences(liveblog, post, before)


# endregion


# region: tell-audiences
def _tell_audiences(liveblog: Liveblog, post: Post, before: dict[str, bool]) -> None:
    """Log, for each audience, what this change is to it (see the module's table)."""
    if post.visible_to(READERS) and not before[READERS]:
        Liveblog.objects.filter(pk=liveblog.pk).update(last_published_at=timezone.now())
    for audience in AUDIENCES:
        after, seen = post.visible_to(audience), SEEN[audience]
        if before[audience] and after:
            _log(liveblog, audience, seen.updated, subject_id=post.pk, post=seen.post.of(post))
        elif after:
            _log(liveblog, audience, seen.created, subject_id=post.pk, post=seen.post.of(post))
        elif before[audience]:
            _forget(liveblog, post, audience)
            gone = GonePost(id=post.pk)
            _log(liveblog, audience, PostDeleted, subject_id=post.pk, post=gone)


# endregion


def _log(
    liveblog: Liveblog,
    audience: str,
    frame: Callable[..., Frame],
    /,
    *,
    subject_id: int,
    **payload: Schema,
) -> None:
    """Append the event `frame` (with `payload`) to one audience's stream, under its next seq.

    The leading arguments are positional-only, so a payload may be called `liveblog`.
    """
    seq = stream_claim(liveblog, seq_field=f"{audience}_seq")
    stream_append(
        events=liveblog.events,
        group=liveblog.group_name(audience),
        seq=seq,
        frame=frame(seq=seq, **payload).model_dump(),
        subject_id=subject_id,
        audience=audience,
    )


def _forget(liveblog: Liveblog, post: Post, audience: str) -> None:
    """Turn an audience's earlier frames about a post it can no longer see into deletes.

    A replay from before them then converges on the same page, without the text.
    """
    gone = GonePost(id=post.pk)
    stream_rewrite(
        liveblog.events.filter(audience=audience),
        subject_id=post.pk,
        rewrite=lambda frame: PostDeleted(seq=frame["seq"], post=gone).model_dump(),
    )
