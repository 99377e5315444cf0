"""Every command a chapter shows is run here, and the lines it says it prints are checked.

A chapter shows commands in ```console blocks: `$ command`, then what it
prints. A quoted line must be a line of the real output, in the same order;
lines in between may be left out, and `…` stands for any text inside a line.
Three kinds are run differently: `make run` is started once, with a fresh
database on a free port, and stays up while the commands that talk to it
(those naming 127.0.0.1:8000) run against that port; `make test`, the whole
suite, is checked by `make -n`; everything else is run from the repository's
root as a reader would run it.
"""

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from tests.support.harness import REPO, ServerProcess, _running, _spawn, app_env, free_port
from website import excerpts

SERVER = "make run"
DOCUMENTED_PORT = "127.0.0.1:8000"
# Commands too slow to run here, and how each is checked instead.
DRY_RUN = {"make test": ["make", "-n", "test"]}
COMMAND_TIMEOUT = 120
# make's own variables: a `make` a chapter shows must not join the make that runs this suite.
MAKE_ENV = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")


@dataclass(frozen=True)
class Shown:
    chapter: str
    command: str
    prints: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.chapter}: {self.command}"


def shown_commands() -> list[Shown]:
    found: dict[tuple[str, tuple[str, ...]], Shown] = {}
    for path in excerpts.chapters(REPO):
        for token in MarkdownIt("commonmark").parse(path.read_text()):
            if token.type != "fence" or token.info.strip() != excerpts.CONSOLE:
                continue
            for block in re.split(r"^\$ ", token.content, flags=re.M)[1:]:
                command, *prints = block.rstrip("\n").split("\n")
                shown = Shown(path.name, command, tuple(prints))
                found.setdefault((shown.command, shown.prints), shown)
    return list(found.values())


SHOWN = shown_commands()


def quoted_lines_appear(prints: tuple[str, ...], output: str) -> bool:
    """Does each quoted line match a line of `output`, in order (`…` matching any text)?"""
    lines = iter(line.strip() for line in output.splitlines())
    for quoted in prints:
        pattern = re.compile(".*".join(re.escape(part) for part in quoted.strip().split("…")))
        if not any(pattern.fullmatch(line) for line in lines):
            return False
    return True


def reader_env() -> dict[str, str]:
    """A reader's shell: the project's own default settings, not the suite's."""
    env = app_env({"DJANGO_SETTINGS_MODULE": None})
    return {key: value for key, value in env.items() if key not in MAKE_ENV}


class MakeRun(ServerProcess):
    """`make run`: make, daphne and the liveblog worker, one process group, stopped like Ctrl+C."""

    name = "make run"

    def __init__(self, process: subprocess.Popen, log_path: Path, port: int) -> None:
        super().__init__(process, log_path)
        self.port = port

    def terminate(self) -> None:
        if self.running:
            os.killpg(self.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()
        _running.pop(self.pid, None)


@pytest.fixture(scope="module")
def make_run(tmp_path_factory) -> Iterator[MakeRun]:
    folder: Path = tmp_path_factory.mktemp("make-run")
    port = free_port()
    env = reader_env() | {"DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}"}
    log = folder / "make-run.log"
    process = _spawn(["make", "run", f"PORT={port}"], log, cwd=REPO, env=env)
    server = MakeRun(process, log, port)
    healthz = ["curl", "-sf", f"http://127.0.0.1:{port}/healthz"]
    server.wait_until(
        lambda: subprocess.run(healthz, capture_output=True, check=False).returncode == 0,
        "answering /healthz",
    )
    # Its banner comes from a process of its own, once daphne listens: up means both.
    banner = f"Open http://127.0.0.1:{port}/"
    server.wait_until(lambda: banner in server.log(), "printing its banner")
    yield server
    server.stop()


def run(argv: list[str] | str) -> str:
    done = subprocess.run(
        argv,
        cwd=REPO,
        env=reader_env(),
        shell=isinstance(argv, str),
        executable="/bin/bash" if isinstance(argv, str) else None,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_the_chapters_show_commands_and_name_every_slow_one():
    commands = {shown.command for shown in SHOWN}

    assert SERVER in commands
    assert set(DRY_RUN) <= commands


@pytest.mark.parametrize("shown", SHOWN, ids=str)
def test_every_command_a_chapter_shows_prints_what_it_says(shown, request):
    if shown.command == SERVER:
        server = request.getfixturevalue("make_run")
        output, port = server.log(), str(server.port)
    elif shown.command in DRY_RUN:
        output, port = run(DRY_RUN[shown.command]), "8000"
    elif DOCUMENTED_PORT in shown.command:
        server = request.getfixturevalue("make_run")
        port = str(server.port)
        output = run(shown.command.replace(DOCUMENTED_PORT, f"127.0.0.1:{port}"))
    else:
        output, port = run(shown.command), "8000"

    prints = tuple(line.replace(DOCUMENTED_PORT, f"127.0.0.1:{port}") for line in shown.prints)
    assert quoted_lines_appear(prints, output), f"{shown} printed:\n{output}"


def test_a_quoted_line_must_appear_in_order_with_gaps_allowed():
    output = "one\n2026-12-01 13:00 INFO Listening on 8000\nthree\n"

    assert quoted_lines_appear(("one", "… Listening on 8000", "three"), output)
    assert quoted_lines_appear(("three",), output)
    assert not quoted_lines_appear(("three", "one"), output)
    assert not quoted_lines_appear(("Listening on 8000",), output)
    assert not quoted_lines_appear(("four",), output)


TEST_NAME = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


@pytest.mark.parametrize("chapter", excerpts.chapters(REPO), ids=lambda path: path.name)
def test_every_test_a_chapter_names_exists(chapter):
    for path, name in TEST_NAME.findall(chapter.read_text()):
        source = (REPO / path).read_text()
        assert re.search(rf"^(?:async )?def {name}\(", source, re.M), f"{path}::{name}"


@pytest.mark.parametrize(
    "chapter",
    [path for path in excerpts.chapters(REPO) if path.stem[:1].isdigit()],
    ids=lambda path: path.name,
)
def test_every_numbered_chapter_ends_with_a_checkpoint_and_what_to_do_if_it_failed(chapter):
    text = chapter.read_text()
    checkpoint = text.split("## Checkpoint", 1)

    assert len(checkpoint) == 2, "no checkpoint"
    assert "```console\n$ " in checkpoint[1]
    assert TEST_NAME.search(checkpoint[1])
    assert "> **If it didn't work**" in checkpoint[1]
