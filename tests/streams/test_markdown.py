"""The server's HTML allow-list and the browser's are the same lists."""

import re

import pytest

from streams import markdown
from tests.support.harness import REPO

SAFE_HTML = (REPO / "static" / "js" / "safe-html.js").read_text()


def js_allow_list(name: str) -> dict[str, set[str]]:
    """A `NAME = {...}` table of safe-html.js as {tag: attributes}, `...OTHER` spread in."""
    body = re.search(rf"export const {name} = \{{(.*?)\}};", SAFE_HTML, re.DOTALL)
    assert body, f"safe-html.js has no {name}"
    table: dict[str, set[str]] = {}
    for spread in re.findall(r"\.\.\.(\w+)", body.group(1)):
        table |= js_allow_list(spread)
    for tag, attributes in re.findall(r"(\w+): \[([^\]]*)\]", body.group(1)):
        table[tag.lower()] = set(re.findall(r'"([^"]+)"', attributes))
    return table


def python_allow_list(tags: set[str]) -> dict[str, set[str]]:
    """{tag: attributes}, `class` among them where the tag may keep some classes."""
    return {
        tag: markdown.ATTRIBUTES.get(tag, set()) | ({"class"} if tag in markdown.CLASSES else set())
        for tag in tags
    }


@pytest.mark.parametrize(
    ("js_name", "tags"),
    [("CHAT_TAGS", markdown.CHAT_TAGS), ("ARTICLE_TAGS", markdown.ARTICLE_TAGS)],
)
def test_the_browser_keeps_exactly_the_tags_and_attributes_the_server_keeps(js_name, tags):
    assert js_allow_list(js_name) == python_allow_list(tags)


def test_the_browser_allows_the_url_schemes_the_server_allows():
    schemes = re.search(r"SAFE_SCHEMES = new Set\(\[([^\]]*)\]\)", SAFE_HTML)
    assert schemes
    assert {s.rstrip(":") for s in re.findall(r'"([^"]+)"', schemes.group(1))} == (
        markdown.URL_SCHEMES
    )


def test_the_browser_keeps_exactly_the_classes_the_server_keeps():
    assert js_allow_list("CLASSES") == markdown.CLASSES


def test_a_mention_of_someone_named_becomes_a_link_and_nowhere_else():
    text = "hi @ann, `@ann` in code, [@ann](https://example.com), mail ann@example.com, @zed"

    html = markdown.render_chat(text, mentions={"ann": "/people/ann"})

    assert html.count('class="mention"') == 1
    assert '<a href="/people/ann" class="mention" rel="nofollow noopener noreferrer">@ann</a>' in (
        html
    )
    assert "<code>@ann</code>" in html
    assert "@zed" in html
    assert markdown.mention_names(text) == ["ann", "zed"]


def test_a_class_written_in_a_message_is_not_kept():
    html = markdown.render_chat('<a class="mention" href="/x">@ann</a> [x](/y){.mention}')

    assert not re.search(r"<a [^>]*class=", html)
