"""The symptoms the chapters' "If it didn't work" boxes quote, reproduced.

Each test makes one usual mistake in a throwaway copy (a tiny app in a
temporary folder, a consumer defined here, a child process) and checks that
what the chapter says appears is what appears.
"""

import json
import subprocess
import sys

import pytest
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core.exceptions import SynchronousOnlyOperation
from django.db import transaction
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from chat import protocol
from chat.models import Message
from chat.services import message_create, room_create
from streams.broadcast import broadcast, encode, envelope
from tests.support.harness import REPO, ServerProcess, _spawn, app_env, free_port

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
        with connect(f"ws://127.0.0.1:{port}/") as socket:
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
