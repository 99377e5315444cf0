"""The symptoms the chapters' "If it didn't work" boxes quote, made for real.

Each test makes the mistake a box describes, in a throwaway module or on a
real server, and checks that what appears is what the chapter quotes, word
for word: a box that quotes a message nobody sees teaches nothing.
"""

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.harness import REPO, app_env, free_port

CHAPTERS = REPO / "docs" / "tutorial"
WAIT = 30


def quoted(chapter: str, text: str) -> str:
    """`text`, after checking the chapter quotes it (its lines may be wrapped in the box)."""
    box = " ".join(
        line.removeprefix(">").strip() for line in (CHAPTERS / chapter).read_text().splitlines()
    )
    assert text in box, f"{chapter} no longer quotes {text!r}"
    return text


class Daphne:
    """daphne, as `make run` starts it, serving `application` from `path` (our code on it)."""

    def __init__(self, application: str, tmp_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log_path = tmp_path / f"daphne-{self.port}.log"
        argv = [sys.executable, "-m", "project.daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        env = app_env({"PYTHONPATH": f"{REPO}:{tmp_path}"})
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*argv, application], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def log(self) -> str:
        return self.log_path.read_text()

    def logged(self, text: str) -> str:
        """Wait until the log holds `text` (or daphne exits, or WAIT runs out)."""
        deadline = time.monotonic() + WAIT
        while text not in self.log():
            assert time.monotonic() < deadline, f"daphne never logged {text!r}:\n{self.log()}"
            time.sleep(0.05)
        return self.log()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def daphne(tmp_path: Path) -> Iterator:
    started: list[Daphne] = []

    def start(application: str, port: int | None = None) -> Daphne:
        server = Daphne(application, tmp_path, port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# 01-run-it.md ------------------------------------------------------------------------


def test_run_it_a_port_already_taken_is_a_listen_failure(daphne):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = daphne("project.asgi:application", port=port)
        message = (
            f"Listen failure: Couldn't listen on 127.0.0.1:{port}: "
            "[Errno 98] Address already in use."
        )
        server.logged(message)
    quoted("01-run-it.md", message.replace(str(port), "8000"))


# 02-asgi.md --------------------------------------------------------------------------

CONSUMERS_BEFORE_DJANGO = """\
from django.core.asgi import get_asgi_application

import chat.routing  # before Django is set up

application = get_asgi_application()
"""

BROKEN_CONSUMERS = """\
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from django.urls import path


class ChatConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = None

    async def connect(self):
        await self.accept()


class ClosesWith1008(AsyncWebsocketConsumer):
    channel_layer_alias = None

    async def connect(self):
        await self.accept()
        await self.close(code=1008)


class RaisesInReceive(AsyncWebsocketConsumer):
    channel_layer_alias = None

    async def connect(self):
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        raise KeyError("body")


application = URLRouter(
    [
        path("no-as-asgi/", ChatConsumer),
        path("close-1008/", ClosesWith1008.as_asgi()),
        path("raises/", RaisesInReceive.as_asgi()),
    ]
)
"""


def test_asgi_importing_a_consumer_before_django_is_set_up_is_apps_not_ready(tmp_path):
    (tmp_path / "early_asgi.py").write_text(CONSUMERS_BEFORE_DJANGO)
    run = subprocess.run(
        [sys.executable, "-c", "import early_asgi"],
        cwd=REPO,
        env=app_env({"PYTHONPATH": f"{REPO}:{tmp_path}"}),
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert run.returncode != 0
    message = quoted(
        "02-asgi.md", "django.core.exceptions.AppRegistryNotReady: Apps aren't loaded yet."
    )
    assert message in run.stderr


def test_asgi_a_route_to_the_class_itself_fails_when_a_socket_opens(daphne, tmp_path):
    (tmp_path / "broken_consumers.py").write_text(BROKEN_CONSUMERS)
    server = daphne("broken_consumers:application")
    server.logged("Listening on TCP address")

    async def open_socket() -> None:
        async with connect(f"ws://127.0.0.1:{server.port}/no-as-asgi/"):
            pass

    with pytest.raises(InvalidStatus):
        asyncio.run(open_socket())
    message = quoted(
        "02-asgi.md", "TypeError: object ChatConsumer can't be used in 'await' expression"
    )
    server.logged(message)


def test_asgi_a_socket_from_another_origin_is_refused_with_403_and_logged(daphne):
    server = daphne("project.asgi:application")
    server.logged("Listening on TCP address")
    page_elsewhere = f"http://127.0.0.1:{free_port()}"

    async def open_socket() -> None:
        url = f"ws://127.0.0.1:{server.port}/ws/liveblog/anything/"
        async with connect(url, origin=page_elsewhere):  # type: ignore[arg-type]
            pass

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(open_socket())
    assert refused.value.response.status_code == 403
    quoted("02-asgi.md", "HTTP/1.1 403 Access denied")
    server.logged(quoted("02-asgi.md", "WSREJECT"))


# 03-first-consumer.md ----------------------------------------------------------------


async def _closed_with(url: str, send: str | None = None) -> int:
    async with connect(url) as ws:
        if send is not None:
            await ws.send(send)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def test_first_consumer_a_close_code_daphne_does_not_send_ends_in_1011(daphne, tmp_path):
    (tmp_path / "broken_consumers.py").write_text(BROKEN_CONSUMERS)
    server = daphne("broken_consumers:application")
    server.logged("Listening on TCP address")

    assert asyncio.run(_closed_with(f"ws://127.0.0.1:{server.port}/close-1008/")) == 1011
    message = (
        "Exception inside application: invalid close code 1008 (must be 1000 or from [3000, 4999])"
    )
    server.logged(message)
    quoted("03-first-consumer.md", message)


def test_first_consumer_an_exception_in_receive_ends_in_1011(daphne, tmp_path):
    (tmp_path / "broken_consumers.py").write_text(BROKEN_CONSUMERS)
    server = daphne("broken_consumers:application")
    server.logged("Listening on TCP address")

    assert asyncio.run(_closed_with(f"ws://127.0.0.1:{server.port}/raises/", send="hi")) == 1011
    server.logged(quoted("03-first-consumer.md", "Exception inside application:") + " 'body'")
