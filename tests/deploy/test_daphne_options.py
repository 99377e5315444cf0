"""Every daphne here runs with the launcher's options (project/daphne.py OPTIONS).

The commands that start one (`make run`, the image, the compose `ws` service,
the suite's DaphneServer) give only where to listen and the application; the
launcher puts its options first. These tests check the commands, that daphne
reads the options so, and that the suite's daphne enforces them on the real app.
"""

import json
import re
import shlex
import subprocess
import sys

import pytest
from websockets.sync.client import connect

from liveblog import services
from liveblog.protocol import MAX_BODY
from project.daphne import OPTIONS, daphne_argv
from tests.support.harness import REPO
from tests.support.sockets import closed_code
from tests.support.topology import compose_config

LAUNCHER = ["-m", "project.daphne"]
FRAME_LIMIT = 64 * 1024
OPTION_NAMES = {option.split("=", 1)[0] for option in OPTIONS}


def launcher_arguments(command: list[str]) -> list[str]:
    """What a command gives the launcher: everything after `python -m project.daphne`."""
    for start in range(len(command) - 1):
        if command[start : start + 2] == LAUNCHER:
            return command[start + 2 :]
    raise AssertionError(f"not started by project/daphne.py: {command}")


def make_run_command() -> list[str]:
    (line,) = [
        line for line in (REPO / "Makefile").read_text().splitlines() if "-m project.daphne" in line
    ]
    return shlex.split(line.strip())


def image_command() -> list[str]:
    (line,) = re.findall(r"^CMD (\[.*\])$", (REPO / "Dockerfile").read_text(), re.M)
    return json.loads(line)


def compose_command(config: dict) -> list[str]:
    return config["services"]["ws"]["command"]


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    values = {"POSTGRES_PASSWORD": "check", "DJANGO_SECRET_KEY": "check"}
    return compose_config(tmp_path_factory.mktemp("compose"), values)


def test_make_run_the_image_and_compose_give_only_where_to_listen_and_the_app(config):
    for command in (make_run_command(), image_command(), compose_command(config)):
        arguments = launcher_arguments(command)
        assert arguments[-1] == "project.asgi:application"
        given = {arg.split("=", 1)[0] for arg in arguments if arg.startswith("--")}
        assert not given & OPTION_NAMES, f"{command} repeats the launcher's options"
        assert "--proxy-headers" not in given


def _parsed(arguments: list[str]) -> dict:
    """daphne's own parse of the launcher's argv, in a process of its own (daphne.cli
    installs a Twisted reactor when imported)."""
    script = (
        "import json, sys; from daphne.cli import CommandLineInterface; "
        "from project.daphne import daphne_argv; "
        "args = CommandLineInterface().parser.parse_args(daphne_argv(sys.argv[1:])); "
        "print(json.dumps(vars(args), default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_daphne_takes_the_launchers_options_and_a_callers_own_last():
    assert daphne_argv(["--fd", "3", "app:x"]) == [*OPTIONS, "--fd", "3", "app:x"]
    parsed = _parsed(["--fd", "3", "project.asgi:application"])
    assert parsed["websocket_max_frame_size"] == FRAME_LIMIT
    assert parsed["websocket_max_message_size"] > FRAME_LIMIT
    assert (parsed["ping_interval"], parsed["ping_timeout"]) == (20, 30)
    assert parsed["application_close_timeout"] == 10
    assert parsed["proxy_headers"] is False
    assert _parsed(["--ping-interval=5", "project.asgi:application"])["ping_interval"] == 5


# On the suite's daphne (tests/support/harness.py DaphneServer) and the real app ----------


LONGEST_BODY = "€" * MAX_BODY  # 3 bytes a character


@pytest.fixture
def long_read(editor):
    """A liveblog whose one post is as long as a post can be: the editors' frame for it
    (its body and its HTML) is well over 64 KiB."""
    liveblog = services.liveblog_create(title="Long read", by=editor)
    services.post_create(liveblog=liveblog, by=editor, body=LONGEST_BODY)
    return liveblog


@pytest.mark.django_db(transaction=True)
def test_the_suites_daphne_takes_a_64_kib_frame_and_drops_the_connection_over_it(
    daphne_server, long_read
):
    url = f"{daphne_server.ws_url}/ws/liveblog/{long_read.slug}/"
    # A ping with a field too many, padded to exactly 64 KiB: the consumer answers it.
    frame = '{"type":"ping","pad":""}'
    frame = frame.replace('""', '"' + "x" * (FRAME_LIMIT - len(frame)) + '"')
    assert len(frame.encode()) == FRAME_LIMIT
    with connect(url, origin=daphne_server.origin, open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "stream.ready"
        socket.send(frame)
        assert json.loads(socket.recv(timeout=10))["code"] == "invalid_frame"
        # One byte more, and daphne drops the connection before the app sees the frame.
        socket.send(frame[:-2] + 'x"}')
        assert closed_code(socket) == 1006
    # Over 64 KiB in frames of 40,000 bytes: daphne passes it on, and the consumer closes.
    with connect(url, origin=daphne_server.origin, open_timeout=10) as socket:
        socket.recv(timeout=10)
        socket.send(iter(['{"type":"ping","pad":"' + "x" * 39_978, "x" * 39_998 + '"}']))
        assert closed_code(socket) == 4009


@pytest.mark.django_db(transaction=True)
def test_the_suites_daphne_sends_an_editor_the_longest_post_whole(
    daphne_server, long_read, editor, login_cookie
):
    url = f"{daphne_server.ws_url}/ws/liveblog/{long_read.slug}/?after=0"
    headers = {"Cookie": login_cookie(editor)}
    with connect(
        url, origin=daphne_server.origin, additional_headers=headers, open_timeout=10
    ) as socket:
        while (text := socket.recv(timeout=10)) and '"liveblog.post_created"' not in text:
            pass
    assert len(text.encode()) > FRAME_LIMIT
    assert json.loads(text)["post"]["body"] == LONGEST_BODY
