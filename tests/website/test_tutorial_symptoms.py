"""The symptoms the chapters' "If it didn't work" boxes quote, made for real.

Each test makes the mistake a box describes, in a throwaway module or on a
real server, and checks that what appears is what the chapter quotes, word
for word: a box that quotes a message nobody sees teaches nothing.
"""

import asyncio
import http.client
import importlib.util
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import PermissionDenied, SynchronousOnlyOperation
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect as connect_sync

from chat import protocol, services
from chat.models import Message
from chat.services import message_create, room_create
from liveblog import services as liveblog_services
from liveblog.models import Post
from liveblog.protocol import READER_SERVER
from project.asgi import application
from project.settings.base import channel_layers
from streams.broadcast import broadcast, encode, envelope
from streams.hub import CLOSE_UNAVAILABLE, get_hub
from streams.revocation import CLOSE_SESSION_ENDED
from tests.support.harness import (
    REPO,
    DaphneServer,
    ServerProcess,
    _spawn,
    app_env,
    free_port,
    websocket_headers,
)
from tests.support.orm import db
from tests.support.sockets import next_frame, socket_opener
from tests.support.topology import TEMPLATE
from website.socket_peek import peek

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


WITHOUT_DAPHNE = """\
from project.settings.dev import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "daphne"]  # noqa: F405
"""


def test_asgi_runserver_without_daphne_in_installed_apps_serves_no_socket(tmp_path):
    (tmp_path / "without_daphne.py").write_text(WITHOUT_DAPHNE)
    port, log_path = free_port(), tmp_path / "runserver.log"
    argv = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    env = app_env({"PYTHONPATH": f"{REPO}:{tmp_path}", "DJANGO_SETTINGS_MODULE": "without_daphne"})
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        banner = quoted("02-asgi.md", "Starting development server")
        deadline = time.monotonic() + WAIT
        while banner not in log_path.read_text():
            assert server.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        handshake = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        handshake.request("GET", "/ws/chat/lobby/", headers=UPGRADE_HEADERS)
        assert handshake.getresponse().status == 404
        quoted("02-asgi.md", "HTTP/1.1 404 Not Found")
        not_found = quoted("02-asgi.md", "Not Found: /ws/chat/lobby/")
        while not_found not in log_path.read_text():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        assert "Starting ASGI/Daphne" not in log_path.read_text()
    finally:
        server.kill()
        server.wait()


UPGRADE_HEADERS = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


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


# Chapter 4: groups and the channel layer -------------------------------------------

MISNAMED_HANDLER_APP = """
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tiny_settings")

import django

django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer


class RoomConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add("room", self.channel_name)
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send("room", {"type": "chat.message", "text": text_data})

    async def chat_messages(self, event):  # one letter more than "chat.message" asks for
        await self.send(text_data=event["text"])


application = RoomConsumer.as_asgi()
"""

TINY_SETTINGS = """
SECRET_KEY = "throwaway"
INSTALLED_APPS = ["daphne", "channels"]
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
"""


def test_ch4_a_handler_misnamed_for_its_type_closes_the_socket_with_1011(tmp_path):
    (tmp_path / "tiny_app.py").write_text(MISNAMED_HANDLER_APP)
    (tmp_path / "tiny_settings.py").write_text(TINY_SETTINGS)
    port, log = free_port(), tmp_path / "daphne.log"
    argv = [
        sys.executable,
        "-m",
        "daphne",
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "tiny_app:application",
    ]
    env = app_env({"DJANGO_SETTINGS_MODULE": None, "PYTHONPATH": str(tmp_path)})
    server = ServerProcess(_spawn(argv, log, cwd=tmp_path, env=env), log)
    try:
        server.wait_until(lambda: "Listening on TCP address" in server.log(), "listening")
        with connect_sync(f"ws://127.0.0.1:{port}/") as socket:
            socket.send("hello")
            with pytest.raises(ConnectionClosedError) as closed:
                socket.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
        assert "Exception inside application: No handler for message type chat.message" in (
            server.log()
        )
    finally:
        server.stop()


async def test_ch4_a_group_named_from_user_text_is_refused_by_the_layer():
    layer = get_channel_layer()

    with pytest.raises(TypeError) as refused:
        await layer.group_add("chat_кафе", await layer.new_channel())

    assert str(refused.value) == (
        "Group name must be a valid unicode string with length < 100 containing only"
        " ASCII alphanumerics, hyphens, underscores, or periods."
    )


# Joins "room" on the dev settings' layer, says so, waits for a line on stdin, then
# sends to the group itself and prints the text of the first message it receives.
LISTENER = """
import asyncio, sys
import django
django.setup()
from channels.layers import get_channel_layer

async def main():
    layer = get_channel_layer()
    me = await layer.new_channel()
    await layer.group_add("room", me)
    print("joined", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await layer.group_send("room", {"type": "chat.message", "text": "from this process"})
    print((await layer.receive(me))["text"], flush=True)

asyncio.run(main())
"""

SENDER = """
import django
django.setup()
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
message = {"type": "chat.message", "text": "from the other process"}
async_to_sync(get_channel_layer().group_send)("room", message)
"""


def first_message_across_processes(env: dict[str, str]) -> str:
    """What the listener receives first when another process sent to its group before it did.

    The layer keeps a channel's messages in order, so the other process's
    message comes first if it arrived at all; no waiting on a clock is needed.
    """
    python = [sys.executable, "-c"]
    with subprocess.Popen(
        [*python, LISTENER],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as listener:
        assert listener.stdin is not None and listener.stdout is not None
        assert listener.stdout.readline() == "joined\n"
        subprocess.run([*python, SENDER], cwd=REPO, env=env, check=True, timeout=30)
        listener.stdin.write("\n")
        listener.stdin.flush()
        first = listener.stdout.readline().strip()
        assert listener.wait(30) == 0
    return first


def test_ch4_on_the_in_memory_layer_a_message_never_reaches_another_process():
    env = app_env({"DJANGO_SETTINGS_MODULE": "project.settings.dev", "REDIS_URL": None})

    assert first_message_across_processes(env) == "from this process"


@pytest.mark.stack
def test_ch4_on_redis_the_same_message_reaches_the_other_process(fresh_redis):
    env = app_env({"DJANGO_SETTINGS_MODULE": "project.settings.dev", "REDIS_URL": fresh_redis.url})

    assert first_message_across_processes(env) == "from the other process"


# Chapter 5: persistence from async code --------------------------------------------


class RoomCountConsumer(AsyncJsonWebsocketConsumer):
    """Queries the ORM straight from async code, as chapter 5 says not to."""

    async def connect(self) -> None:
        Message.objects.count()
        await self.accept()


@pytest.mark.django_db
async def test_ch5_the_orm_called_from_async_code_raises_synchronous_only_operation():
    communicator = WebsocketCommunicator(RoomCountConsumer.as_asgi(), "/ws/")

    with pytest.raises(SynchronousOnlyOperation) as raised:
        await communicator.connect()

    assert str(raised.value) == (
        "You cannot call this from an async context - use a thread or sync_to_async."
    )


def send_broadcasting_inside_the_transaction(*, room, author, body: str) -> None:
    """A write that broadcasts before it commits, then fails: the mistake broadcast_on_commit
    prevents."""
    with transaction.atomic():
        message, _ = message_create(room=room, author=author, body=body, client_id="c1")
        frame = protocol.MessagePosted(seq=message.seq, message=protocol.Message.of(message))
        broadcast(envelope(room.group_name, frame=encode(frame.model_dump()), seq=message.seq))
        raise RuntimeError("the write fails after its broadcast")


@pytest.mark.django_db(transaction=True)
async def test_ch5_a_broadcast_before_commit_shows_a_message_a_reload_does_not(make_user):
    ann = await database_sync_to_async(make_user)()
    room = await database_sync_to_async(room_create)(name="Ghosts", created_by=ann)
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add(room.group_name, listener)

    with pytest.raises(RuntimeError):
        await database_sync_to_async(send_broadcasting_inside_the_transaction)(
            room=room, author=ann, body="never saved"
        )

    shown = json.loads((await layer.receive(listener))["frame"])
    assert shown["message"]["body"] == "never saved"
    reloaded = await database_sync_to_async(Message.objects.filter(room=room).exists)()
    assert not reloaded


# Chapter 8: the liveblog ---------------------------------------------------------

CHAPTER_8 = "08-the-liveblog.md"


@pytest.mark.django_db(transaction=True)
async def test_chapter_8_a_post_saved_through_the_orm_reaches_no_reader(login_cookie, editor):
    liveblog = await db(liveblog_services.liveblog_create)(title="Launch", by=editor)
    post = await db(liveblog_services.post_create)(liveblog=liveblog, by=editor, body="First")
    open_socket = socket_opener(login_cookie, lambda user: READER_SERVER, {"presence"})
    reader = await open_socket(None, f"/ws/liveblog/{liveblog.slug}/")

    # The mistake: saving the model instead of calling the service.
    post.body = "Changed in the shell"
    await db(post.save)()
    # A change made through a service after it, which readers must be told of.
    await db(liveblog_services.liveblog_update)(liveblog=liveblog, by=editor, title="Later")

    (frame,) = await reader.events(1)
    assert frame["type"] == "liveblog.updated"
    assert frame["seq"] == reader.ready_seq + 1
    assert quoted(CHAPTER_8, "you saved the model yourself")
    await reader.close()


@pytest.mark.django_db
def test_chapter_8_a_service_called_with_positional_arguments_is_a_type_error(editor):
    liveblog = liveblog_services.liveblog_create(title="Launch", by=editor)
    message = quoted(
        CHAPTER_8,
        "post_create() takes 0 positional arguments but 2 positional arguments"
        " (and 1 keyword-only argument) were given",
    )

    with pytest.raises(TypeError) as error:
        liveblog_services.post_create(liveblog, editor, body="Hello")  # type: ignore[misc]

    assert str(error.value) == message


@pytest.mark.django_db
def test_chapter_8_a_service_called_by_someone_not_an_editor_is_refused(make_user, editor):
    liveblog = liveblog_services.liveblog_create(title="Launch", by=editor)

    with pytest.raises(PermissionDenied) as error:
        liveblog_services.post_create(liveblog=liveblog, by=make_user(), body="Hello")

    shown = f"{type(error.value).__module__}.{type(error.value).__name__}: {error.value}"
    assert shown == quoted(
        CHAPTER_8, "django.core.exceptions.PermissionDenied: Only liveblog editors can do that."
    )


@pytest.mark.django_db
def test_chapter_8_without_a_worker_a_scheduled_post_stays_scheduled_past_its_time(client, editor):
    liveblog = liveblog_services.liveblog_create(title="Launch", by=editor)
    post = liveblog_services.post_create(
        liveblog=liveblog,
        by=editor,
        body="Due at once",
        state=Post.State.SCHEDULED,
        publish_at=timezone.now() + timedelta(seconds=0.2),
    )
    # No worker runs here: let the post's time pass (the clock is the condition).
    time.sleep((post.publish_at - timezone.now()).total_seconds() + 0.05)
    assert timezone.now() > post.publish_at
    client.force_login(editor)

    page = client.get(f"/live/{liveblog.slug}/").content.decode()

    post.refresh_from_db()
    assert post.state == Post.State.SCHEDULED
    assert quoted(CHAPTER_8, 'A scheduled post stays "Scheduled for"')
    assert "Scheduled for" in page.split("Drafts and scheduled", 1)[1]


# Chapter 9: Redis and more than one process ------------------------------------------

CHAPTER_9 = "09-redis-and-many-processes.md"


@pytest.mark.django_db
async def test_chapter_9_with_nothing_at_redis_url_healthz_names_the_channel_layer(
    async_client,
):
    nobody = f"redis://127.0.0.1:{free_port()}/0"

    with override_settings(CHANNEL_LAYERS=channel_layers(nobody)):
        response = await async_client.get("/healthz")

    assert response.status_code == 503
    assert response.content.decode() == quoted(
        CHAPTER_9, '{"database": "ok", "channel_layer": "error: ConnectionError"}'
    )


@pytest.fixture
def chatters(make_user, login_cookie):
    ann, bob = make_user(username="ann"), make_user(username="bob")
    room = room_create(name="Two processes", created_by=ann)
    return f"/ws/chat/{room.slug}/", login_cookie(ann), login_cookie(bob)


def socket_on(server, path: str, cookie: str):
    return connect(
        server.ws_url + path, origin=server.origin, additional_headers={"Cookie": cookie}
    )


@pytest.mark.django_db(transaction=True)
async def test_chapter_9_two_processes_on_the_in_memory_layer_do_not_hear_each_other(
    daphne_factory, chatters
):
    path, ann_cookie, bob_cookie = chatters
    # The mistake: no REDIS_URL, so each process has an in-memory layer of its own.
    first, second = daphne_factory(REDIS_URL=None), daphne_factory(REDIS_URL=None)

    async with (
        socket_on(first, path, ann_cookie) as ann,
        socket_on(second, path, bob_cookie) as bob,
    ):
        await next_frame(ann, "stream.ready")
        await next_frame(bob, "stream.ready")
        await ann.send(json.dumps({"type": "chat.send", "body": "from one", "client_id": "a1"}))
        assert (await next_frame(ann, "chat.message"))["seq"] == 1
        await bob.send(json.dumps({"type": "chat.send", "body": "from two", "client_id": "b1"}))

        # Bob's own message is the first he hears: ann's, committed before it, never came.
        heard = await next_frame(bob, "chat.message")
        assert (heard["seq"], heard["message"]["body"]) == (2, "from two")
        # What the page's next ping tells it: it is behind, and asks for the gap.
        await bob.send(json.dumps({"type": "ping"}))
        assert (await next_frame(bob, "pong"))["seq"] == 2
    assert quoted(CHAPTER_9, "see each other's messages only after a reload")


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
async def test_chapter_9_a_socket_timeout_below_the_blocking_receive_closes_idle_sockets(
    daphne_factory, fresh_redis, chatters
):
    path, ann_cookie, _ = chatters
    # The mistake: a socket timeout under the layer's 5 s blocking receive.
    server = daphne_factory(REDIS_URL=fresh_redis.url, REDIS_SOCKET_TIMEOUT="1")

    async with socket_on(server, path, ann_cookie) as ann:
        await next_frame(ann, "stream.ready")
        with pytest.raises(ConnectionClosed) as closed:
            await next_frame(ann, "never sent")

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CLOSE_UNAVAILABLE
    log = server.log()
    assert quoted(CHAPTER_9, "hub: receiving from the channel layer failed; retrying") in log
    assert re.search(r"^redis\.exceptions\.TimeoutError: Timeout reading from ", log, re.M)
    assert quoted(CHAPTER_9, "redis.exceptions.TimeoutError: Timeout reading from …")


# 10. Testing ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_testing_the_orm_called_straight_from_an_async_test_is_refused():
    with pytest.raises(
        SynchronousOnlyOperation,
        match=re.escape(
            "You cannot call this from an async context - use a thread or sync_to_async."
        ),
    ):
        get_user_model().objects.count()


@pytest.mark.django_db(transaction=True)
async def test_testing_a_communicator_without_an_origin_is_refused_with_false_and_1000():
    bare = WebsocketCommunicator(application, "/ws/chat/lobby/")
    assert await bare.connect() == (False, 1000)

    # The same socket with the header a page of the site sends gets past the origin
    # check: accepted, then closed because no one is signed in.
    headed = WebsocketCommunicator(
        application, "/ws/chat/lobby/", headers=websocket_headers(origin="http://testserver")
    )
    connected, _ = await headed.connect()
    assert connected
    assert await headed.receive_output() == {"type": "websocket.close", "code": CLOSE_SESSION_ENDED}


def test_testing_a_misspelt_test_stack_stops_pytest_before_any_test(monkeypatch):
    # A fresh copy of the module tests/conftest.py imports first, run as pytest would run it.
    monkeypatch.setenv("TEST_STACK", "redis")
    spec = importlib.util.find_spec("tests.support.stack")
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    message = "TEST_STACK must be one of ['', 'postgres-redis'], not 'redis'."

    with pytest.raises(pytest.UsageError, match=re.escape(message)):
        spec.loader.exec_module(copy)


# 11. Deploying with compose and scaling out ---------------------------------------------

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "project.settings.production",
    "DJANGO_SECRET_KEY": "symptom-test-only",
    "DJANGO_ALLOWED_HOSTS": "chat.example.org",
    "REDIS_URL": "redis://127.0.0.1:9/0",  # never reached: no request here uses Redis
}

# Two requests to the production settings, as nginx hands them on over HTTPS.
REQUESTS = """
import django
django.setup()
from django.test import Client
client = Client(raise_request_exception=False)
for host, path in [("chat.example.org", "/admin/"), ("www.chat.example.org", "/")]:
    print(path, client.get(path, secure=True, headers={"host": host}).status_code, flush=True)
"""


def production(tmp_path: Path, code: str, **env: str | None) -> str:
    """Run `code` on the production settings with `env` over PRODUCTION; its output."""
    settings = PRODUCTION | {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"} | env
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=app_env({"PYTHONPATH": str(REPO), **settings}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout + done.stderr


def test_deploy_production_settings_name_every_variable_left_unset(tmp_path):
    output = production(
        tmp_path, "import django; django.setup()", DJANGO_ALLOWED_HOSTS=None, REDIS_URL=None
    )

    assert (
        "project.env.MissingSettings: Production settings need these environment variables,"
        " which are not set: DJANGO_ALLOWED_HOSTS, REDIS_URL. See docs/configuration.md."
    ) in output


@pytest.fixture(scope="module")
def requests_output(tmp_path_factory) -> str:
    return production(tmp_path_factory.mktemp("production"), REQUESTS)


def test_deploy_without_an_admin_url_the_admin_is_not_found(requests_output):
    output = requests_output

    assert "Not Found: /admin/" in output
    assert "/admin/ 404" in output.splitlines()


def test_deploy_a_host_missing_from_allowed_hosts_is_a_bad_request(requests_output):
    output = requests_output

    assert (
        "Invalid HTTP_HOST header: 'www.chat.example.org'."
        " You may need to add 'www.chat.example.org' to ALLOWED_HOSTS."
    ) in output
    assert "/ 400" in output.splitlines()


def test_deploy_compose_refuses_an_env_file_left_unfilled(tmp_path):
    (tmp_path / ".env").write_text((REPO / "deploy" / ".env.example").read_text())
    done = subprocess.run(
        [str(Path(sys.executable).parent / "docker-compose"), "-f", "deploy/docker-compose.yml",
         "--project-directory", str(tmp_path), "config", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip

    assert (
        "required variable POSTGRES_PASSWORD is missing a value: set POSTGRES_PASSWORD"
        " in deploy/.env"
    ) in done.stderr


# nginx in front of one daphne, proxying /ws/ with or without the lines of the real
# template that pass the handshake on: the upgrade, and the Host the Origin must match.
HANDSHAKE_LINES = (
    "proxy_http_version",
    "proxy_set_header Upgrade",
    "proxy_set_header Connection",
    "proxy_set_header Host",
)


def handshake_config() -> tuple[str, list[str]]:
    """The template's `map` for the Connection header, and its lines that pass the handshake."""
    template = TEMPLATE.read_text()
    connection_map = re.search(r"^map \$http_upgrade .*?^}", template, re.S | re.M)
    ws_location = template.split("location /ws/", 1)[1].split("\n    }", 1)[0]
    lines = [
        line.strip()
        for line in ws_location.splitlines()
        if line.strip().startswith(HANDSHAKE_LINES)
    ]
    assert connection_map and len(lines) == len(HANDSHAKE_LINES)
    return connection_map.group(0), lines


@pytest.fixture(scope="module")
def daphne_alone(tmp_path_factory) -> Iterator[DaphneServer]:
    folder = tmp_path_factory.mktemp("daphne")
    server = DaphneServer.start(
        env={"DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}"}, log_path=folder / "daphne.log"
    )
    yield server
    server.stop()


@contextmanager
def nginx_to(daphne: DaphneServer, *, passing: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """nginx proxying /ws/ to `daphne` with the template's lines that start with `passing`;
    the socket URL of a chat room through it, and the Origin of a page it serves."""
    # nginx's workers run as nobody: the prefix must be readable by all.
    prefix = Path(tempfile.mkdtemp(prefix="nginx-"))
    prefix.chmod(0o755)
    connection_map, lines = handshake_config()
    port = free_port()
    (prefix / "nginx.conf").write_text(
        f"pid {prefix}/nginx.pid;\nevents {{}}\nhttp {{\n"
        + "".join(f"  {kind}_temp_path {prefix}/{kind};\n" for kind in ("client_body", "proxy"))
        + f"  access_log off;\n  {connection_map}\n"
        + f"  server {{\n    listen 127.0.0.1:{port};\n    location /ws/ {{\n"
        + f"      proxy_pass http://127.0.0.1:{daphne.port};\n"
        + "".join(f"      {line}\n" for line in lines if passing and line.startswith(passing))
        + "    }\n  }\n}\n"
    )
    argv = ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr",
            "-g", "daemon off;"]  # fmt: skip
    nginx = ServerProcess(_spawn(argv, prefix / "nginx.log"), prefix / "nginx.log")
    nginx.stop_signal = signal.SIGQUIT  # graceful

    def listening() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    try:
        nginx.wait_until(listening, "listening")
        yield f"ws://127.0.0.1:{port}/ws/chat/lobby/", f"http://127.0.0.1:{port}"
    finally:
        nginx.stop()
        shutil.rmtree(prefix)


def test_deploy_a_ws_location_that_drops_the_upgrade_gets_django_s_404(daphne_alone):
    with (
        nginx_to(daphne_alone, passing=()) as (url, origin),
        pytest.raises(InvalidStatus, match="HTTP 404"),
    ):
        connect_sync(url, origin=origin, open_timeout=10)

    log = daphne_alone.log()
    assert "Not Found: /ws/chat/lobby/" in log
    assert '"GET /ws/chat/lobby/" 404' in log


def test_deploy_a_ws_location_that_drops_the_host_is_refused_by_the_origin_check(daphne_alone):
    without_host = tuple(line for line in HANDSHAKE_LINES if "Host" not in line)
    with (
        nginx_to(daphne_alone, passing=without_host) as (url, origin),
        pytest.raises(InvalidStatus, match="HTTP 403"),
    ):
        connect_sync(url, origin=origin, open_timeout=10)


def test_deploy_the_templates_ws_location_passes_the_handshake_on(daphne_alone):
    # Through to the consumer, which accepts and closes: nobody is signed in.
    with (
        nginx_to(daphne_alone, passing=HANDSHAKE_LINES) as (url, origin),
        connect_sync(url, origin=origin, open_timeout=10) as opened,
        pytest.raises(ConnectionClosed) as closed,
    ):
        opened.recv(timeout=10)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CLOSE_SESSION_ENDED


# Chapters 6 and 7: a signed-in chat socket on the real ASGI application ---------------

ORIGIN = "http://testserver"


def signed_in(user) -> tuple[str, str]:
    """A fresh session for `user`: its Cookie header value and its key."""
    client = Client()
    client.force_login(user)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    return f"{settings.SESSION_COOKIE_NAME}={key}", key


async def open_room(user, room, *, after: int | None = None) -> tuple[WebsocketCommunicator, str]:
    """A chat socket of `user` on `room`, read up to its `stream.ready`; and the session key."""
    cookie, key = await db(signed_in)(user)
    path = f"/ws/chat/{room.slug}/" + ("" if after is None else f"?after={after}")
    socket = WebsocketCommunicator(
        application, path, headers=websocket_headers(origin=ORIGIN, cookie=cookie)
    )
    connected, _ = await socket.connect(timeout=5)
    assert connected
    return socket, key


async def text_of_type(socket: WebsocketCommunicator, frame_type: str) -> str:
    """The raw text of the next frame of `frame_type`, as a client would print it."""
    while True:
        text = await socket.receive_from(5)
        if json.loads(text)["type"] == frame_type:
            return text


async def sent_and_answered(user, room, frame: dict) -> str:
    socket, _ = await open_room(user, room)
    await text_of_type(socket, "stream.ready")
    await socket.send_to(text_data=json.dumps(frame))
    answer = await text_of_type(socket, "error")
    await socket.disconnect()
    return answer


# Chapter 6: never lose a message ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_chapter_6_a_sync_whose_seq_is_a_string_is_refused_as_not_an_integer(user):
    room = await db(services.room_create)(name="Strings", created_by=user)

    answer = await sent_and_answered(user, room, {"type": "stream.sync", "after": "3"})

    assert answer == (
        '{"type": "error", "code": "invalid_frame", "detail": "after must be an integer."}'
    )


@pytest.mark.django_db(transaction=True)
async def test_chapter_6_a_tab_from_an_older_database_is_told_the_new_head_and_given_nothing(
    user,
):
    # A new database whose stream is at 5, and a tab that had applied 12 in the old one.
    room = await db(services.room_create)(name="Recreated", created_by=user)
    for n in range(5):
        await db(services.message_create)(room=room, author=user, body=f"m{n}", client_id=f"{n}")

    socket, _ = await open_room(user, room, after=12)

    assert await socket.receive_from(5) == '{"type":"stream.ready","seq":5}'
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_chapter_6_a_retry_with_a_new_client_id_is_shown_twice_and_with_the_same_once(
    user,
):
    room = await db(services.room_create)(name="Retries", created_by=user)
    socket, _ = await open_room(user, room)
    await text_of_type(socket, "stream.ready")

    for client_id in ("first", "made-anew-for-the-retry", "first"):
        send = {"type": "chat.send", "body": "Hello again", "client_id": client_id}
        await socket.send_to(text_data=json.dumps(send))
    answers = [json.loads(await text_of_type(socket, "chat.message")) for _ in range(3)]
    await socket.disconnect()

    ids = [answer["message"]["id"] for answer in answers]
    assert ids[0] != ids[1], "a new client_id is a second message"
    assert ids[2] == ids[0], "the same client_id is the first message, sent back"
    assert [answer["seq"] for answer in answers] == [1, 2, 1]


# Chapter 7: declared protocols and abuse ---------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_chapter_7_an_edit_whose_id_is_a_string_is_refused_as_not_an_integer(user):
    room = await db(services.room_create)(name="Edits", created_by=user)
    message, _ = await db(services.message_create)(
        room=room, author=user, body="typo", client_id="c0"
    )

    frame = {"type": "chat.edit", "id": str(message.pk), "body": "fixed"}
    answer = await sent_and_answered(user, room, frame)

    assert answer == (
        '{"type": "error", "code": "invalid_frame", "detail": "id must be an integer."}'
    )


@pytest.mark.django_db(transaction=True)
async def test_chapter_7_a_misspelt_type_is_an_unknown_type_with_its_client_id(user):
    room = await db(services.room_create)(name="Typos", created_by=user)

    frame = {"type": "chat.sned", "body": "hi", "client_id": "c1"}
    answer = await sent_and_answered(user, room, frame)

    assert answer == (
        '{"type": "error", "code": "unknown_type", "detail": "Unknown frame type'
        ' \'chat.sned\'.", "client_id": "c1"}'
    )


@pytest.mark.django_db(transaction=True)
async def test_chapter_7_a_script_sending_seventy_frames_at_once_is_closed_with_4029(
    user,
):
    room = await db(services.room_create)(name="Floods", created_by=user)
    socket, _ = await open_room(user, room)
    await text_of_type(socket, "stream.ready")

    for _ in range(70):
        await socket.send_to(text_data='{"type": "ping"}')
    pongs = 0
    while (output := await socket.receive_output(5))["type"] != "websocket.close":
        pongs += json.loads(output["text"])["type"] == "pong"

    assert output["code"] == 4029
    assert settings.WEBSOCKET_FLOOD_BURST <= pongs < 70


@pytest.mark.django_db(transaction=True)
async def test_chapter_7_a_log_out_by_session_flush_leaves_other_tabs_live_until_the_check(user):
    room = await db(services.room_create)(name="Flushes", created_by=user)
    other_tab, key = await open_room(user, room)
    await text_of_type(other_tab, "stream.ready")

    # The mistaken log-out view: request.session.flush(), no logout(), so no signal.
    await db(SessionStore(session_key=key).flush)()

    await other_tab.send_to(text_data='{"type": "ping"}')
    assert json.loads(await text_of_type(other_tab, "pong"))["type"] == "pong", "still live"
    await get_hub().sessions_recheck()
    while (output := await other_tab.receive_output(5))["type"] != "websocket.close":
        pass
    assert output["code"] == 4401


# Chapter 12: one socket for every room ------------------------------------------------

CHAPTER_12 = "12-one-socket-per-tab.md"


async def open_mux(user) -> WebsocketCommunicator:
    """`user`'s multiplexed socket, read up to its personal stream's `stream.ready`."""
    cookie, _ = await db(signed_in)(user)
    socket = WebsocketCommunicator(
        application, "/ws/", headers=websocket_headers(origin=ORIGIN, cookie=cookie)
    )
    connected, _ = await socket.connect(timeout=5)
    assert connected
    await text_of_type(socket, "stream.ready")
    return socket


def test_chapter_12_a_script_opening_ws_without_a_session_is_closed_with_4401(daphne_alone, capsys):
    peek(f"{daphne_alone.ws_url}/ws/", [])

    assert capsys.readouterr().out == quoted(CHAPTER_12, "closed by the server: 4401") + "\n"


@pytest.mark.django_db(transaction=True)
async def test_chapter_12_a_one_stream_sockets_frame_on_ws_is_refused_for_want_of_its_stream(
    user,
):
    socket = await open_mux(user)

    send = {"type": "chat.send", "body": "hi", "client_id": "c1"}
    await socket.send_to(text_data=json.dumps(send))
    answer = await text_of_type(socket, "error")
    await socket.disconnect()

    assert answer == quoted(
        CHAPTER_12,
        '{"type": "error", "code": "invalid_frame", "detail": "A stream\'s command needs the'
        ' stream\'s name, a string \'stream\'.", "client_id": "c1"}',
    )


@pytest.mark.django_db(transaction=True)
async def test_chapter_12_a_send_to_a_stream_left_is_refused_until_it_is_joined_again(user):
    await db(services.room_create)(name="Lobby", created_by=user)
    socket = await open_mux(user)
    await socket.send_to(text_data='{"type": "stream.join", "stream": "chat:lobby"}')
    await text_of_type(socket, "stream.ready")
    await socket.send_to(text_data='{"type": "stream.leave", "stream": "chat:lobby"}')
    await text_of_type(socket, "stream.left")

    send = {"type": "chat.send", "stream": "chat:lobby", "body": "hi", "client_id": "c1"}
    await socket.send_to(text_data=json.dumps(send))
    answer = await text_of_type(socket, "error")
    await socket.disconnect()

    assert answer == quoted(
        CHAPTER_12,
        '{"type": "error", "code": "not_allowed", "detail": "Join the stream first.",'
        ' "client_id": "c1", "stream": "chat:lobby"}',
    )


@pytest.mark.django_db(transaction=True)
async def test_chapter_12_a_kind_nobody_registered_is_not_found(user):
    socket = await open_mux(user)

    await socket.send_to(text_data='{"type": "stream.join", "stream": "poll:1"}')
    answer = await text_of_type(socket, "error")
    await socket.disconnect()

    assert answer == quoted(
        CHAPTER_12,
        '{"type": "error", "code": "not_found", "detail": "No such stream kind \'poll\'.",'
        ' "stream": "poll:1"}',
    )
