"""A liveblog as a stream (`liveblog:<slug>`): each reader follows their audience's.

Editors follow the editors' stream (drafts included), everyone else the
readers' stream. Both one-stream sockets (/ws/liveblog/<slug>/) and the
multiplexed one follow a liveblog through `LiveblogStream`. It only listens:
editors write over HTTP. Registered in LiveblogConfig.ready.
"""

from collections.abc import Sequence

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet

from streams.registry import Stream

from .models import EDITORS, READERS, Liveblog
from .selectors import liveblog_events, user_is_editor

PREFIX = "liveblog"


# region: liveblog-audience
def liveblogs_resolve(slugs: Sequence[str | None], user) -> dict[str | None, Stream | Exception]:
    """The liveblogs of `slugs`, each as the stream of `user`'s audience."""
    found = {blog.slug: blog for blog in Liveblog.objects.filter(slug__in=[s for s in slugs if s])}
    audience = EDITORS if user_is_editor(user) else READERS
    return {
        slug: LiveblogStream(liveblog=found[slug], audience=audience)
        if slug in found
        else ObjectDoesNotExist("No such liveblog.")
        for slug in slugs
    }


# endregion


class LiveblogStream(Stream):
    listen_only = "This stream only listens; editors write over HTTP."
    # Readers see how many read along, never who.
    names = False

    def __init__(self, *, liveblog: Liveblog, audience: str) -> None:
        super().__init__(
            name=f"{PREFIX}:{liveblog.slug}",
            group=liveblog.group_name(audience),
            presence=liveblog.presence_group,
        )
        self.liveblog = liveblog
        self.audience = audience

    def events(self) -> QuerySet:
        return liveblog_events(liveblog=self.liveblog, audience=self.audience)

    def head(self) -> tuple[QuerySet, str]:
        return Liveblog.objects.filter(pk=self.liveblog.pk), f"{self.audience}_seq"
