"""An Atom feed per liveblog: its latest published posts (never drafts)."""

from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.utils.feedgenerator import Atom1Feed

from .models import Liveblog, Post
from .selectors import post_timeline

FEED_LENGTH = 30


class LiveblogFeed(Feed):
    feed_type = Atom1Feed

    def get_object(self, request, slug: str) -> Liveblog:
        self.request = request
        return get_object_or_404(Liveblog, slug=slug)

    def title(self, liveblog: Liveblog) -> str:
        return liveblog.title

    def subtitle(self, liveblog: Liveblog) -> str:
        return liveblog.description

    def link(self, liveblog: Liveblog) -> str:
        return liveblog.get_absolute_url()

    def items(self, liveblog: Liveblog) -> list[Post]:
        return post_timeline(liveblog=liveblog, limit=FEED_LENGTH)

    def item_title(self, post: Post) -> str:
        return post.summary

    def item_description(self, post: Post) -> str:
        return post.html

    def item_link(self, post: Post) -> str:
        return f"{post.liveblog.get_absolute_url()}#post-{post.pk}"

    def item_guid(self, post: Post) -> str:
        # Atom ids are absolute and never change: the post's address on this site.
        return self.request.build_absolute_uri(self.item_link(post))

    def item_pubdate(self, post: Post):
        return post.published_at

    def item_updateddate(self, post: Post):
        return post.edited_at or post.published_at

    def item_author_name(self, post: Post) -> str:
        return post.author.get_username() if post.author else ""
