"""Markdown to safe HTML, rendered once on write.

markdown-it never passes raw HTML through, and nh3 then keeps only an
allow-list of tags, attributes and URL schemes: a `<script>`, an `onerror`
attribute or a `javascript:` link comes out as inert text.

A chat message's `@username` becomes a link of class `mention` when the caller
names that user among those that exist (`render_chat(mentions=...)`); never
inside code or another link.
"""

import re
from collections.abc import Iterator, Mapping
from html import unescape

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

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
# The classes a tag may carry: only what the server itself writes (a mention's link).
CLASSES = {"a": {"mention"}}

# `@name` not inside a word or an address; a name ends on no dot (the end of a sentence).
MENTION = re.compile(r"(?<![\w.@+-])@([\w.+-]*[\w+-])")

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
        allowed_classes=CLASSES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    ).strip()


def render_chat(text: str, *, mentions: Mapping[str, str] | None = None) -> str:
    """Light markdown for chat: code, emphasis, links; each `@name` of `mentions` (name ->
    URL) a link of class `mention`."""
    tokens = _CHAT.parse(text)
    if mentions:
        for inline in _inline_tokens(tokens):
            inline.children = list(_link_mentions(inline.children or [], mentions))
    return _clean(_CHAT.renderer.render(tokens, _CHAT.options, {}), CHAT_TAGS)


def mention_names(text: str) -> list[str]:
    """The names a chat message mentions (`@name`), in order, outside code and links."""
    names = []
    for inline in _inline_tokens(_CHAT.parse(text)):
        for part in _mention_parts(inline.children or []):
            if isinstance(part, tuple):
                names.append(part[0])
    return list(dict.fromkeys(names))


def _inline_tokens(tokens: list[Token]) -> Iterator[Token]:
    return (token for token in tokens if token.type == "inline")


def _mention_parts(children: list[Token]) -> Iterator[Token | tuple[str, str]]:
    """`children` again, with each text outside a link split into text tokens and
    (name, "@name") pairs."""
    depth = 0
    for child in children:
        depth += (child.type == "link_open") - (child.type == "link_close")
        if child.type != "text" or depth:
            yield child
            continue
        start = 0
        for match in MENTION.finditer(child.content):
            if match.start() > start:
                yield _text(child.content[start : match.start()])
            yield match.group(1), match.group(0)
            start = match.end()
        if start < len(child.content):
            yield _text(child.content[start:])


def _link_mentions(children: list[Token], mentions: Mapping[str, str]) -> Iterator[Token]:
    for part in _mention_parts(children):
        if not isinstance(part, tuple):
            yield part
        elif part[0] in mentions:
            attrs: dict[str, str | int | float] = {"href": mentions[part[0]], "class": "mention"}
            yield Token("link_open", "a", 1, attrs=attrs)
            yield _text(part[1])
            yield Token("link_close", "a", -1)
        else:
            yield _text(part[1])


def _text(content: str) -> Token:
    return Token("text", "", 0, content=content)


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
