"""The tutorial as the app serves it at /learn/: docs/tutorial/*.md, read when asked for.

The chapters are written to read well on a code host, where their links are
relative paths (`02-asgi.md`, `../../project/asgi.py`); here each one is
rendered by the app's own article pipeline (streams/markdown.py), and its
links are turned into /learn/ addresses: a chapter's into its page, a
source file's into /learn/source/, which shows only the files a chapter links to.
"""

import functools
import posixpath
import re
from dataclasses import dataclass
from html import unescape
from pathlib import Path

from django.urls import reverse

from streams.markdown import plain_text, render_article

from . import excerpts

INDEX = "index"
# An excerpt's markers: a code host hides HTML comments, the article pipeline would show them.
MARKER = re.compile(r"^<!-- (?:excerpt: \S+|end excerpt) -->\n", re.M)
HREF = re.compile(r'href="([^"]*)"')
# A listing wider than the page scrolls sideways; tabindex lets a keyboard scroll it too.
PRE = '<pre tabindex="0">'
TITLE_LIMIT = 80


@dataclass(frozen=True)
class ChapterLink:
    slug: str
    title: str
    url: str


@dataclass(frozen=True)
class Chapter:
    link: ChapterLink
    html: str
    previous: ChapterLink | None
    next: ChapterLink | None


@dataclass(frozen=True)
class SourceLine:
    text: str
    # The region that starts on this line, if any: the page's anchor for it.
    region: str | None


@dataclass(frozen=True)
class SourceFile:
    path: str
    lines: list[SourceLine]


def _folder(root: Path) -> Path:
    return root / excerpts.CHAPTERS


def _order(path: Path) -> tuple[int, str]:
    """The contents page first, then the numbered chapters, then the others."""
    if path.stem == INDEX:
        return 0, ""
    return (1 if path.stem[:1].isdigit() else 2), path.stem


def _url(slug: str) -> str:
    return reverse("learn") if slug == INDEX else reverse("learn-chapter", args=[slug])


def _title(text: str) -> str:
    heading = next((line for line in text.splitlines() if line.startswith("# ")), "")
    # Rendered as the heading it is: alone, "2. ASGI" would be a numbered list.
    return plain_text(render_article(heading), limit=TITLE_LIMIT)


def chapter_list(*, root: Path = excerpts.ROOT) -> list[ChapterLink]:
    """Every chapter, in reading order."""
    paths = sorted(_folder(root).glob("*.md"), key=_order)
    return [ChapterLink(p.stem, _title(p.read_text()), _url(p.stem)) for p in paths]


def _target(href: str) -> tuple[str, str] | None:
    """A relative link of a chapter, as (path from the repository's root, fragment)."""
    if not href or href.startswith(("/", "#")) or re.match(r"^[a-z][a-z0-9+.-]*:", href):
        return None
    path, _, fragment = unescape(href).partition("#")
    resolved = posixpath.normpath(posixpath.join(excerpts.CHAPTERS.as_posix(), path))
    if resolved.startswith("../"):
        return None
    return resolved, fragment


def _rewrite(href: str) -> str:
    target = _target(href)
    if target is None:
        return href
    path, fragment = target
    folder = excerpts.CHAPTERS.as_posix() + "/"
    if path.startswith(folder) and path.endswith(".md") and "/" not in path[len(folder) :]:
        url = _url(posixpath.basename(path)[: -len(".md")])
    else:
        url = reverse("learn-source", args=[path])
    return url + (f"#{fragment}" if fragment else "")


def render_chapter(text: str) -> str:
    """A chapter's Markdown as the article pipeline renders it, its links made /learn/ ones."""
    html = render_article(MARKER.sub("", text))
    html = HREF.sub(lambda match: f'href="{_rewrite(match[1])}"', html)
    return html.replace("<pre>", PRE)


def chapter_get(*, slug: str, root: Path = excerpts.ROOT) -> Chapter | None:
    """One chapter, with its neighbours in reading order; None if there is no such chapter."""
    chapters = chapter_list(root=root)
    index = next((i for i, link in enumerate(chapters) if link.slug == slug), None)
    if index is None:
        return None
    text = (_folder(root) / f"{slug}.md").read_text()
    return Chapter(
        link=chapters[index],
        html=render_chapter(text),
        previous=chapters[index - 1] if index > 0 else None,
        next=chapters[index + 1] if index + 1 < len(chapters) else None,
    )


def linked_sources(*, root: Path = excerpts.ROOT) -> frozenset[str]:
    """The repository files the chapters link to (other than chapters): all /learn/source/ shows."""
    paths = sorted(_folder(root).glob("*.md"))
    return _linked_sources(tuple((path, path.stat().st_mtime_ns) for path in paths))


# Rendering every chapter takes a while: done again only when a chapter changes.
@functools.lru_cache(maxsize=4)
def _linked_sources(chapters: tuple[tuple[Path, int], ...]) -> frozenset[str]:
    found = set()
    for path, _ in chapters:
        for href in HREF.findall(render_article(MARKER.sub("", path.read_text()))):
            target = _target(href)
            if target is not None and not target[0].startswith(excerpts.CHAPTERS.as_posix()):
                found.add(target[0])
    return frozenset(found)


def source_get(*, path: str, root: Path = excerpts.ROOT) -> SourceFile | None:
    """A file a chapter links to, line by line, each region's first line marked; else None."""
    if path not in linked_sources(root=root) or not (root / path).is_file():
        return None
    lines = []
    for line in (root / path).read_text().splitlines():
        start = excerpts.REGION_START.match(line)
        lines.append(SourceLine(line, start["name"] if start else None))
    return SourceFile(path, lines)
