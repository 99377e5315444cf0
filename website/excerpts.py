"""The tutorial's code listings, taken from the real files by named region.

A region is marked in the source by two short comment lines, in the file's own
comment syntax, and the listing leaves them out:

    # region: asgi-stack          // region: name         {# region: name #}
    ...                           ...                     ...
    # endregion                   // endregion            {# endregion #}

A chapter in docs/tutorial/ asks for one with `<!-- excerpt: PATH#NAME -->`;
`manage.py tutorial_excerpts` writes, from there to `<!-- end excerpt -->`, a
link to the file and a fenced block holding the region's text, dedented. The
check (`--check`, run by `make lint` and by the suite) fails when a listing
differs from its region, when a chapter names a region that does not exist,
when a region in the source is used by no chapter, and when a chapter holds a
code block that is not a listing: the only other blocks allowed are `console`
ones, a reader's commands (`$ ...`) and what they print, which the suite runs.
"""

import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = Path("docs") / "tutorial"

# Folders that hold no source a chapter shows: tooling, build output, the docs themselves.
SKIPPED_FOLDERS = {"docs", "node_modules", "staticfiles", "__pycache__"}
# A `.template` is a file of the suffix before it with values still to fill in
# (deploy/nginx/templates/default.conf.template).
SOURCE_SUFFIXES = {
    ".py",
    ".js",
    ".html",
    ".css",
    ".conf",
    ".yml",
    ".yaml",
    ".toml",
    ".sh",
    ".template",
}
SOURCE_NAMES = {"Makefile", "Dockerfile"}

_COMMENT = r"(?:#|//|\{#)"
REGION_START = re.compile(
    r"^\s*" + _COMMENT + r" region: (?P<name>[a-z0-9][a-z0-9-]*)(?: #\})?\s*$"
)
REGION_END = re.compile(r"^\s*" + _COMMENT + r" endregion(?: #\})?\s*$")

EXCERPT = re.compile(
    r"^<!-- excerpt: (?P<path>[^#\s]+)#(?P<name>[a-z0-9-]+) -->\n"
    r"(?P<body>.*?)^<!-- end excerpt -->$",
    re.S | re.M,
)
# The one kind of code block a chapter may hold besides a listing.
CONSOLE = "console"

LANGUAGES = {
    ".py": "python",
    ".js": "javascript",
    ".html": "django",
    ".css": "css",
    ".conf": "nginx",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".toml": "toml",
    ".sh": "bash",
    "Makefile": "make",
    "Dockerfile": "dockerfile",
}

_PARSER = MarkdownIt("commonmark")


@dataclass(frozen=True)
class Region:
    path: str
    name: str
    text: str


class RegionError(ValueError):
    """A source file's markers do not pair up."""


def source_files(root: Path) -> list[Path]:
    """Every file under `root` that may hold a region."""
    found = []
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(
            f for f in folders if not f.startswith(".") and f not in SKIPPED_FOLDERS
        )
        for name in sorted(files):
            path = Path(folder) / name
            if path.suffix in SOURCE_SUFFIXES or name in SOURCE_NAMES:
                found.append(path)
    return found


def file_regions(path: str, text: str) -> dict[str, Region]:
    """The regions of one file, by name; regions may nest, and no marker line is kept."""
    open_regions: list[tuple[str, list[str]]] = []
    regions: dict[str, Region] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if start := REGION_START.match(line):
            name = start["name"]
            if name in regions or any(name == open_name for open_name, _ in open_regions):
                raise RegionError(f"{path}:{number}: region {name!r} is marked twice")
            open_regions.append((name, []))
        elif REGION_END.match(line):
            if not open_regions:
                raise RegionError(f"{path}:{number}: an endregion closes no region")
            name, lines = open_regions.pop()
            body = textwrap.dedent("\n".join(lines)).strip("\n")
            regions[name] = Region(path, name, body)
        else:
            for _, lines in open_regions:
                lines.append(line)
    if open_regions:
        raise RegionError(f"{path}: region {open_regions[-1][0]!r} is never closed")
    return regions


def all_regions(root: Path) -> dict[tuple[str, str], Region]:
    """Every region under `root`, by (path relative to root, name)."""
    found = {}
    for path in source_files(root):
        relative = path.relative_to(root).as_posix()
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for name, region in file_regions(relative, text).items():
            found[relative, name] = region
    return found


def chapters(root: Path) -> list[Path]:
    return sorted((root / CHAPTERS).glob("*.md"))


def language(path: str) -> str:
    name = Path(path).name.removesuffix(".template")
    return LANGUAGES.get(name, LANGUAGES.get(Path(name).suffix, ""))


def listing(region: Region) -> str:
    """What stands between a chapter's excerpt markers: the link, then the fenced region."""
    longest = max((len(run) for run in re.findall(r"`{3,}", region.text)), default=2)
    fence = "`" * max(3, longest + 1)
    up = "../" * len(CHAPTERS.parts)
    return (
        f"From [`{region.path}`]({up}{region.path}#{region.name}):\n\n"
        f"{fence}{language(region.path)}\n{region.text}\n{fence}\n"
    )


def render_chapter(text: str, regions: dict[tuple[str, str], Region], *, where: str) -> str:
    """`text` with every listing regenerated; a region that does not exist is an error."""

    def fill(match: re.Match[str]) -> str:
        key = (match["path"], match["name"])
        if key not in regions:
            raise RegionError(f"{where}: no region {match['name']!r} in {match['path']}")
        start, end = match.group(0).split("\n", 1)[0], "<!-- end excerpt -->"
        return f"{start}\n{listing(regions[key])}{end}"

    return EXCERPT.sub(fill, text)


def stray_blocks(text: str, *, where: str) -> list[str]:
    """Code blocks of a chapter that are neither a listing nor a `console` block."""
    listings = [
        (text.count("\n", 0, m.start()), text.count("\n", 0, m.end()))
        for m in EXCERPT.finditer(text)
    ]
    problems = []
    for token in _PARSER.parse(text):
        if token.type not in {"fence", "code_block"} or token.map is None:
            continue
        line = token.map[0]
        if any(first <= line <= last for first, last in listings):
            continue
        if token.type == "fence" and token.info.strip() == CONSOLE:
            continue
        problems.append(
            f"{where}:{line + 1}: a code block that is not an excerpt"
            f" (take it from a region, or make it a `{CONSOLE}` block)"
        )
    return problems


@dataclass(frozen=True)
class Result:
    """What the excerpts of every chapter should be, and what is wrong with them."""

    wanted: dict[Path, str]
    stale: list[str]
    problems: list[str]


def check(root: Path = ROOT) -> Result:
    """Regenerate every chapter's listings under `root` and name what is wrong."""
    problems: list[str] = []
    try:
        regions = all_regions(root)
    except RegionError as error:
        return Result({}, [], [str(error)])
    used: set[tuple[str, str]] = set()
    wanted: dict[Path, str] = {}
    stale: list[str] = []
    for path in chapters(root):
        where = path.relative_to(root).as_posix()
        text = path.read_text()
        used.update((m["path"], m["name"]) for m in EXCERPT.finditer(text))
        if text.count("<!-- excerpt: ") != len(EXCERPT.findall(text)):
            problems.append(f"{where}: an excerpt marker without its `<!-- end excerpt -->`")
        try:
            rendered = render_chapter(text, regions, where=where)
        except RegionError as error:
            problems.append(str(error))
            continue
        problems += stray_blocks(text, where=where)
        wanted[path] = rendered
        if rendered != text:
            stale += [
                f"{where} ({m['path']}#{m['name']})"
                for m, was in zip(EXCERPT.finditer(rendered), EXCERPT.finditer(text), strict=False)
                if m.group(0) != was.group(0)
            ]
    problems += [
        f"{path}: region {name!r} is used by no chapter"
        for path, name in sorted(set(regions) - used)
    ]
    return Result(wanted, stale, problems)
