"""Liveblog reads. Readers are only ever shown published posts."""

from datetime import datetime

from django.db.models import F, Q, QuerySet

from .models import EDITORS_GROUP, Liveblog, LiveblogEvent, Post

PAGE = 20


def user_is_editor(user) -> bool:
    """Editors are superusers and members of the liveblog-editors group."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.groups.filter(name=EDITORS_GROUP).exists()


def liveblog_list() -> QuerySet[Liveblog]:
    """Live ones first, then the most recently updated."""
    return Liveblog.objects.order_by(
        F("ended_at").desc(nulls_first=True),
        F("last_published_at").desc(nulls_last=True),
        "-created_at",
    )


def liveblog_get(*, slug: str) -> Liveblog | None:
    return Liveblog.objects.filter(slug=slug).first()


def liveblog_head(*, liveblog: Liveblog, audience: str) -> int:
    """The seq of the audience's latest committed event, read fresh."""
    return Liveblog.objects.values_list(f"{audience}_seq", flat=True).get(pk=liveblog.pk)


def liveblog_events(*, liveblog: Liveblog, audience: str) -> QuerySet[LiveblogEvent]:
    return LiveblogEvent.objects.filter(liveblog=liveblog, audience=audience)


def _published(liveblog: Liveblog) -> QuerySet[Post]:
    return Post.objects.filter(
        liveblog=liveblog, state=Post.State.PUBLISHED, deleted_at__isnull=True
    ).select_related("author__profile")


def post_timeline(*, liveblog: Liveblog, before_id: int | None = None, limit: int = PAGE):
    """Up to `limit` published posts, newest first, older than post `before_id` if given."""
    posts = _published(liveblog).order_by("-published_at", "-id")
    if before_id is not None:
        before = Post.objects.filter(pk=before_id, liveblog=liveblog).first()
        if before is None or before.published_at is None:
            return []
        posts = posts.filter(
            Q(published_at__lt=before.published_at)
            | Q(published_at=before.published_at, pk__lt=before.pk)
        )
    return list(posts[:limit])


def post_pinned(*, liveblog: Liveblog) -> Post | None:
    return _published(liveblog).filter(pinned=True).first()


def post_pinned_id(*, liveblog: Liveblog) -> int | None:
    """The post pinned now, published or not (editors see a pinned draft as pinned)."""
    return (
        Post.objects.filter(liveblog=liveblog, pinned=True, deleted_at__isnull=True)
        .values_list("pk", flat=True)
        .first()
    )


def post_key_events(*, liveblog: Liveblog) -> list[Post]:
    return list(_published(liveblog).filter(key_event=True).order_by("-published_at", "-id"))


def post_drafts(*, liveblog: Liveblog) -> list[Post]:
    """Drafts and scheduled posts (editors only): scheduled first, by time, then drafts."""
    return list(
        Post.objects.filter(liveblog=liveblog, deleted_at__isnull=True)
        .exclude(state=Post.State.PUBLISHED)
        .select_related("author__profile")
        .order_by(F("publish_at").asc(nulls_last=True), "-created_at")
    )


# region: post-next-due
def post_next_due() -> datetime | None:
    """When the next scheduled post goes out, if any is scheduled."""
    return (
        Post.objects.filter(state=Post.State.SCHEDULED, deleted_at__isnull=True)
        .order_by("publish_at")
        .values_list("publish_at", flat=True)
        .first()
    )


# endregion


def post_for_editors(*, liveblog: Liveblog, post_id: int) -> Post:
    return Post.objects.select_related("author__profile").get(
        pk=post_id, liveblog=liveblog, deleted_at__isnull=True
    )
