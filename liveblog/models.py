"""Liveblogs, their posts, and the two event logs (streams) each liveblog has.

A liveblog has two audiences, and each sees its own stream with its own
gap-free seq: readers see published posts only; editors also see drafts and
scheduled posts. A change to a post is judged by whether each audience can
see the post before and after it (see `services`).
"""

import re

from django.conf import settings
from django.db import models
from django.urls import reverse

from streams.markdown import plain_text
from streams.models import StreamEventBase

SUMMARY_LENGTH = 80
# The first heading, else the first block of text (paragraph, item, line).
FIRST_HEADING = re.compile(r"<h[1-6][^>]*>(.*?)</h[1-6]>", re.S)
FIRST_BLOCK = re.compile(r"(.*?)(?:</p>|</li>|</blockquote>|</pre>|<br\s*/?>|$)", re.S)
# A sentence ends at . ! or ? followed by a space (not in "3.5" or "e.g.x").
SENTENCE_END = re.compile(r"(?<=[.!?])\s")

READERS = "readers"
EDITORS = "editors"
AUDIENCES = (READERS, EDITORS)
EDITORS_GROUP = "liveblog-editors"


class Liveblog(models.Model):
    title = models.CharField(max_length=120)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    last_published_at = models.DateTimeField(null=True, blank=True)
    # The heads of the two streams: each audience's latest committed seq.
    readers_seq = models.PositiveBigIntegerField(default=0)
    editors_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("liveblog:detail", kwargs={"slug": self.slug})

    @property
    def is_live(self) -> bool:
        return self.ended_at is None

    # region: liveblog-group-name
    def group_name(self, audience: str) -> str:
        """The channel-layer group of one audience's sockets."""
        return f"liveblog.{self.pk}.{audience}"

    # endregion

    @property
    def presence_group(self) -> str:
        """Everyone on the page, readers and editors, counted together."""
        return f"liveblog.{self.pk}"


class Post(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        PUBLISHED = "published", "Published"

    liveblog = models.ForeignKey(Liveblog, on_delete=models.CASCADE, related_name="posts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    html = models.TextField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    # When a scheduled post goes out; the worker publishes it then.
    publish_at = models.DateTimeField(null=True, blank=True)
    # When it first went out; kept if it is unpublished and published again.
    published_at = models.DateTimeField(null=True, blank=True)
    pinned = models.BooleanField(default=False)
    key_event = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-published_at", "-id"]
        indexes = [
            models.Index(
                fields=["liveblog", "state", "published_at"], name="liveblog_post_timeline"
            ),
            models.Index(fields=["state", "publish_at"], name="liveblog_post_due"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["liveblog"],
                condition=models.Q(pinned=True, deleted_at__isnull=True),
                name="liveblog_post_one_pinned",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.liveblog}: {self.body[:40]}"

    @property
    def summary(self) -> str:
        """A headline for the post: the key-events box and the feed show it.

        Its first heading, or else the first sentence of its first line, as text.
        """
        heading = FIRST_HEADING.search(self.html)
        block = FIRST_BLOCK.match(self.html.strip())
        first = heading.group(1) if heading else block.group(1) if block else ""
        # A post that opens with an image has no text in its first block.
        text = plain_text(first, limit=len(first) + 1) or plain_text(
            self.html, limit=len(self.html) + 1
        )
        sentence = SENTENCE_END.split(text, maxsplit=1)[0]
        if len(sentence) <= SUMMARY_LENGTH:
            return sentence
        return sentence[: SUMMARY_LENGTH - 1].rsplit(" ", 1)[0].rstrip(",.;:") + "…"

    @property
    def is_published(self) -> bool:
        return self.state == self.State.PUBLISHED

    # region: post-visible-to
    def visible_to(self, audience: str) -> bool:
        """Can `audience` see this post as it is now?"""
        if self.deleted_at is not None:
            return False
        return audience == EDITORS or self.is_published

    # endregion


class LiveblogEvent(StreamEventBase):
    """One committed change, as the frame one audience receives."""

    liveblog = models.ForeignKey(Liveblog, on_delete=models.CASCADE, related_name="events")
    audience = models.CharField(max_length=7, choices=[(a, a) for a in AUDIENCES])

    class Meta(StreamEventBase.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["liveblog", "audience", "seq"], name="liveblog_event_audience_seq"
            ),
        ]
