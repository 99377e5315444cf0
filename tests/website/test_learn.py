"""/learn/: the tutorial's chapters, rendered by the app's own pipeline, every link resolving."""

import re
from html import unescape

import pytest

from tests.support.harness import REPO
from website import excerpts, tutorial

CHAPTERS = tutorial.chapter_list()
ARTICLE = re.compile(r'<article class="tutorial-chapter".*?</article>', re.S)


def hrefs(html: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'<a [^>]*href="([^"]*)"', html)]


def test_the_contents_page_is_first_and_every_chapter_file_is_served():
    files = {path.stem for path in (REPO / excerpts.CHAPTERS).glob("*.md")}

    assert CHAPTERS[0].url == "/learn/"
    assert {link.slug for link in CHAPTERS} == files
    assert [link.slug for link in CHAPTERS][1:4] == ["01-run-it", "02-asgi", "03-first-consumer"]


@pytest.mark.parametrize("link", CHAPTERS, ids=lambda link: link.slug)
def test_every_chapter_renders_with_its_listings_as_code_and_no_markers(client, link):
    response = client.get(link.url)

    assert response.status_code == 200
    page = response.content.decode()
    assert f"<title>{link.title} · Learn" in page
    markdown = (REPO / excerpts.CHAPTERS / f"{link.slug}.md").read_text()
    assert page.count('<pre tabindex="0"><code>') == markdown.count("\n```") // 2
    assert "excerpt:" not in page and "&lt;!--" not in page


@pytest.mark.parametrize("link", CHAPTERS, ids=lambda link: link.slug)
def test_each_listing_links_to_its_file_and_region(client, link):
    markdown = (REPO / excerpts.CHAPTERS / f"{link.slug}.md").read_text()
    wanted = [f"/learn/source/{m['path']}#{m['name']}" for m in excerpts.EXCERPT.finditer(markdown)]

    page = client.get(link.url).content.decode()
    for href in wanted:
        assert href in hrefs(page)
        path, region = href.split("#")
        source = client.get(path)
        assert source.status_code == 200
        assert f'id="{region}"' in source.content.decode()


@pytest.mark.parametrize("link", CHAPTERS, ids=lambda link: link.slug)
def test_every_link_of_a_chapter_inside_the_site_resolves(client, link):
    page = client.get(link.url).content.decode()

    for href in hrefs(ARTICLE.search(page)[0]):
        if not href.startswith("/"):
            continue
        path, _, fragment = href.partition("#")
        target = client.get(path)
        assert target.status_code == 200, href
        if fragment:
            assert f'id="{fragment}"' in target.content.decode(), href


def test_next_links_lead_through_every_chapter_in_order(client):
    seen, url = [], "/learn/"
    while url:
        page = client.get(url).content.decode()
        seen.append(url)
        following = re.search(r'<a rel="next" href="([^"]+)"', page)
        url = following[1] if following else None

    assert seen == [link.url for link in CHAPTERS]


def test_the_last_chapter_links_back_and_the_first_has_no_previous(client):
    first = client.get(CHAPTERS[0].url).content.decode()
    last = client.get(CHAPTERS[-1].url).content.decode()

    assert 'rel="prev"' not in first
    assert f'<a rel="prev" href="{CHAPTERS[-2].url}"' in last
    assert 'rel="next"' not in last


def test_links_written_for_a_code_host_become_learn_addresses():
    html = tutorial.render_chapter(
        "[a](02-asgi.md) [b](index.md) [c](../../project/asgi.py#asgi-stack)"
        " [d](../protocol.md) [e](https://example.org/x.md) [f](#here)"
    )

    assert hrefs(html) == [
        "/learn/02-asgi/",
        "/learn/",
        "/learn/source/project/asgi.py#asgi-stack",
        "/learn/source/docs/protocol.md",
        "https://example.org/x.md",
        "#here",
    ]


def test_a_code_block_is_pre_and_code_with_its_text_escaped_and_reachable_by_keyboard():
    html = tutorial.render_chapter("```python\nif a < b:\n    print('<script>')\n```\n")

    assert (
        html == "<pre tabindex=\"0\"><code>if a &lt; b:\n    print('&lt;script&gt;')\n</code></pre>"
    )


@pytest.mark.parametrize(
    "path",
    [
        "project/settings/production.py",
        "deploy/.env.example",
        "docs/tutorial/02-asgi.md",
        "../pyproject.toml",
        "project/../pyproject.toml",
    ],
)
def test_only_the_files_a_chapter_links_to_are_shown(client, path):
    assert client.get(f"/learn/source/{path}").status_code == 404


def test_an_unknown_chapter_is_not_found(client):
    assert client.get("/learn/04-nothing-yet/").status_code == 404


def test_the_site_navigation_links_to_the_tutorial(client):
    assert '<a href="/learn/">Learn</a>' in client.get("/learn/02-asgi/").content.decode()


def test_a_link_to_a_file_that_is_not_there_is_not_found(tmp_path):
    (tmp_path / excerpts.CHAPTERS).mkdir(parents=True)
    (tmp_path / excerpts.CHAPTERS / "index.md").write_text("# Contents\n\n[gone](../../gone.py)\n")

    assert tutorial.linked_sources(root=tmp_path) == {"gone.py"}
    assert tutorial.source_get(path="gone.py", root=tmp_path) is None
