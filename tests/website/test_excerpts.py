"""The tutorial's listings are the regions they name, and the check fails the moment one drifts."""

import shutil
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from tests.support.harness import REPO
from website import excerpts

RUFF = [sys.executable, "-m", "ruff"]


def test_every_listing_of_the_tutorial_is_what_its_region_holds():
    result = excerpts.check(REPO)
    assert result.problems == []
    assert result.stale == [], "run `make docs`"


@pytest.fixture
def copy(tmp_path, monkeypatch):
    """A throwaway copy of the chapters, the files holding their regions, and ruff's settings."""
    regioned = {region.path for region in excerpts.all_regions(REPO).values()}
    for relative in [*regioned, "pyproject.toml"]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, tmp_path / relative)
    shutil.copytree(REPO / excerpts.CHAPTERS, tmp_path / excerpts.CHAPTERS)
    monkeypatch.setattr(excerpts, "ROOT", tmp_path)
    whole = excerpts.check(tmp_path)
    assert (whole.problems, whole.stale) == ([], []), "the copy lacks a file"
    return tmp_path


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_editing_a_region_in_the_source_makes_the_check_fail(copy):
    edit(
        copy / "project" / "asgi.py",
        '"http": django_asgi_app,',
        '"http": django_asgi_app,  # pages',
    )

    with pytest.raises(CommandError) as stale:
        call_command("tutorial_excerpts", "--check")
    assert "docs/tutorial/02-asgi.md (project/asgi.py#asgi-stack)" in str(stale.value)


def test_regenerating_brings_the_listing_back_in_line_and_touches_nothing_else(copy):
    edit(
        copy / "project" / "asgi.py",
        '"http": django_asgi_app,',
        '"http": django_asgi_app,  # pages',
    )
    call_command("tutorial_excerpts")

    chapter = (copy / "docs" / "tutorial" / "02-asgi.md").read_text()
    assert '"http": django_asgi_app,  # pages' in chapter
    assert excerpts.check(copy).stale == []
    original = (REPO / "docs" / "tutorial" / "02-asgi.md").read_text()
    assert chapter.replace("  # pages", "") == original


def test_a_region_a_chapter_names_that_the_source_lacks_fails_the_check(copy):
    edit(copy / "chat" / "routing.py", "# region: chat-route\n", "")
    edit(copy / "chat" / "routing.py", "# endregion\n", "")

    with pytest.raises(CommandError, match="no region 'chat-route' in chat/routing.py"):
        call_command("tutorial_excerpts", "--check")


def test_a_region_no_chapter_uses_fails_the_check(copy):
    edit(copy / "chat" / "routing.py", "from django.urls", "# region: unused\nfrom django.urls")
    edit(copy / "chat" / "routing.py", "from .consumers", "# endregion\nfrom .consumers")

    with pytest.raises(
        CommandError, match="chat/routing.py: region 'unused' is used by no chapter"
    ):
        call_command("tutorial_excerpts", "--check")


@pytest.mark.parametrize(
    "block",
    [
        "```python\nprint('typed by hand')\n```\n",
        "```\nmake run\n```\n",
        "    print('indented, so a code block too')\n",
    ],
    ids=["fenced", "fenced-without-language", "indented"],
)
def test_a_code_block_that_is_not_a_listing_fails_the_check(copy, block):
    chapter = copy / "docs" / "tutorial" / "02-asgi.md"
    chapter.write_text(chapter.read_text() + "\nSome text.\n\n" + block)

    with pytest.raises(
        CommandError, match="02-asgi.md:[0-9]+: a code block that is not an excerpt"
    ):
        call_command("tutorial_excerpts", "--check")


def test_a_console_block_is_allowed_outside_a_listing(copy):
    chapter = copy / "docs" / "tutorial" / "02-asgi.md"
    chapter.write_text(chapter.read_text() + "\n```console\n$ make help\n```\n")

    assert excerpts.check(copy).problems == []


def test_an_excerpt_marker_without_its_end_fails_the_check(copy):
    chapter = copy / "docs" / "tutorial" / "02-asgi.md"
    chapter.write_text(chapter.read_text() + "\n<!-- excerpt: chat/routing.py#chat-route -->\n")

    with pytest.raises(CommandError, match="without its `<!-- end excerpt -->`"):
        call_command("tutorial_excerpts", "--check")


def test_the_markers_survive_ruff_format(copy):
    # Markers at the end of a method's body are where the formatter is most likely to move them.
    subprocess.run([*RUFF, "format", "--quiet", str(copy)], check=True, cwd=copy)

    result = excerpts.check(copy)
    assert (result.problems, result.stale) == ([], [])


def test_a_listing_leaves_the_markers_out_and_is_dedented():
    source = (
        "class A:\n"
        "    # region: outer\n"
        "    def f(self):\n"
        "        # region: inner\n"
        "        return 1\n"
        "        # endregion\n"
        "    # endregion\n"
    )
    regions = excerpts.file_regions("a.py", source)

    assert regions["outer"].text == "def f(self):\n    return 1"
    assert regions["inner"].text == "return 1"


@pytest.mark.parametrize(
    ("start", "end"),
    [("// region: x", "// endregion"), ("{# region: x #}", "{# endregion #}")],
    ids=["javascript", "template"],
)
def test_javascript_and_templates_mark_regions_in_their_own_comments(start, end):
    regions = excerpts.file_regions("f", f"{start}\nbody\n{end}\n")

    assert regions["x"].text == "body"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("# region: x\nbody\n", "region 'x' is never closed"),
        ("body\n# endregion\n", "an endregion closes no region"),
        ("# region: x\n# endregion\n# region: x\n# endregion\n", "region 'x' is marked twice"),
    ],
    ids=["unclosed", "unopened", "twice"],
)
def test_markers_that_do_not_pair_up_are_an_error(source, message):
    with pytest.raises(excerpts.RegionError, match=message):
        excerpts.file_regions("f.py", source)


def test_a_template_of_a_config_file_is_a_source_shown_in_that_files_language(tmp_path):
    template = tmp_path / "deploy" / "site.conf.template"
    template.parent.mkdir()
    template.write_text("# region: x\nlisten ${PORT};\n# endregion\n")
    (region,) = excerpts.all_regions(tmp_path).values()

    assert region.text == "listen ${PORT};"
    assert excerpts.listing(region).split("\n")[2] == "```nginx"
