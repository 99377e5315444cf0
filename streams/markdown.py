"""Markdown to safe HTML, rendered once on write.

markdown-it never passes raw HTML through, and nh3 then keeps only an
allow-list of tags, attributes and URL schemes: a `<script>`, an `onerror`
attribute or a `javascript:` link comes out as inert text.
"""

import re
from html import unescape

import nh3
from markdown_it import MarkdownIt

URL_SCHEMES = {"http", "https", "mailto"}

# The allow-lists: tags, and the attributes each may keep. static/js/safe-html.js
# rebuilds the same markup in the browser from the same lists, and
# tests/streams/test_markdown.py fails when the two differ.
CHAT_TAGS = {"p", "br", "em", "strong", "code", "pre", "a"}
ARTICLE_TAGS = CHAT_TAGS | {
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "hr", "img",
    "s", "del", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}}

_CHAT = MarkdownIt("zero", {"html": False, "linkify": True, "breaks": True}).enable(
    ["paragraph", "fence", "emphasis", "backticks", "link", "linkify", "newline", "escape"]
)
_ARTICLE = MarkdownIt("commonmark", {"html": False, "linkify": True}).enable(
    ["linkify", "strikethrough", "table"]
)


def _clean(html: str, tags: set[str]) -> str:
    return nh3.clean(
        html,
        tags=tags,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    ).strip()


def render_chat(text: str) -> str:
    """Light markdown for chat: code, emphasis, links."""
    return _clean(_CHAT.render(text), CHAT_TAGS)


def render_article(text: str) -> str:
    """Fuller markdown for liveblog updates: headings, lists, quotes, images by URL."""
    return _clean(_ARTICLE.render(text), ARTICLE_TAGS)


def plain_text(html: str, *, limit: int) -> str:
    """The text of rendered markup, on one line, cut at a word before `limit` characters.

    Used for summaries (a liveblog's key events, feed titles), always shown as text.
    """
    spaced = re.sub(r"<(?:/p|/h[1-6]|/li|/blockquote|/pre|br\s*/?)>", " ", html)
    text = " ".join(unescape(nh3.clean(spaced, tags=set())).split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",.;:") + "…"
