"""The multiplexed socket, /ws/, on the real ASGI application: one socket, many streams.

Every frame received is checked: the socket's own against its protocol, and
each stream's, its `stream` tag taken off, against that stream's protocol.
Marked `stack`: these run on the embedded default and again on PostgreSQL + Redis.
"""

import json
from typing import Literal

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from chat import services
from chat import streams as chat_streams
from chat.protocol import PERSONAL
from chat.protocol import SERVER as CHAT_SERVER
from liveblog import services as liveblog_services
from liveblog.protocol import READER_SERVER
from project.asgi import application
from streams import hub as hub_module
from streams import multiplex
from streams.personal import personal_append
from streams.revocation import subscriptions_revoke
from streams.schemas import Frame, Ready, Seq
from tests.support.harness import websocket_headers
from tests.support.orm import db
from tests.support.sockets import PresenceView, socket_opener

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

EPHEMERAL = {"presence", "presence.state", "presence.diff", "chat.typing"}


class Note(Frame):
    """A personal event for these tests (the chat app declares the real ones)."""

    type: Literal["user.note"] = "user.note"
    seq: Seq
    text: str


def check(frame: dict) -> None:
    """Raise unless `frame` is one the multiplexed socket may send."""
    if frame["type"] in multiplex.SERVER.frames and "seq" not in frame:
        multiplex.SERVER.check(frame)
        return
    untagged = {key: value for key, value in frame.items() if key != "stream"}
    stream = frame["stream"]
    if stream.startswith("chat:"):
        CHAT_SERVER.check(untagged)
    elif stream.startswith("liveblog:"):
        READER_SERVER.check(untagged)
    elif untagged["type"] == "stream.ready":
        Ready.model_validate(untagged)
    elif untagged["type"] == "user.note":
        Note.model_validate(untagged)
    else:
        PERSONAL.check(untagged)


async def close_code(communicator: WebsocketCommunicator) -> int:
    """The code the server closes the socket with, skipping the frames before it."""
    while True:
        message = await communicator.receive_output(5)
        if message["type"] == "websocket.close":
            return message.get("code", 1000)


class MuxClient:
    """One multiplexed socket; every frame it receives is checked."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    async def send(self, frame: dict) -> None:
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def receive(self, within: float = 5) -> dict:
        frame = json.loads(await self.communicator.receive_from(within))
        check(frame)
        return frame

    async def next(self, *types: str, within: float = 10) -> dict:
        """The next frame of one of `types`, skipping presence, typing and personal events."""
        while True:
            frame = await self.receive(within)
            if frame["type"] in types:
                return frame
            personal = frame.get("stream") == "user" and frame["type"].startswith("user.")
            assert personal or frame["type"] in EPHEMERAL, frame

    async def join(self, stream: str, after: int | None = None) -> list[dict]:
        """Join `stream`: the frames it replays, up to and with its `stream.ready`."""
        frame: dict = {"type": "stream.join", "stream": stream}
        if after is not None:
            frame["after"] = after
        await self.send(frame)
        replayed = []
        while True:
            got = await self.next("stream.ready", "chat.message", "chat.message_updated", "error")
            assert got["stream"] == stream, got
            replayed.append(got)
            if got["type"] in ("stream.ready", "error"):
                return replayed

    async def events(self, count: int, *, personal: bool = False) -> list[dict]:
        """The next `count` events (frames with a seq) of the rooms, or of the personal
        stream if `personal`, skipping everything else."""
        found: list[dict] = []
        while len(found) < count:
            frame = await self.receive(10)
            if "seq" not in frame or frame["type"] == "stream.ready":
                continue
            if (frame["stream"] == "user") == personal:
                found.append(frame)
        return found

    async def ping(self) -> dict:
        await self.send({"type": "ping"})
        return await self.next("pong")

    async def close_code(self) -> int:
        return await close_code(self.communicator)

    async def close(self) -> None:
        await self.communicator.disconnect()


@pytest.fixture
def open_mux(login_cookie):
    """`await open_mux(user, after=None)` -> a MuxClient past the personal stream's ready."""

    async def open_socket(user, *, after: int | None = None, path: str = "/ws/"):
        cookie = await db(login_cookie)(user) if user is not None else None
        if after is not None:
            path += f"?after={after}"
        headers = websocket_headers(origin="http://testserver", cookie=cookie)
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        return MuxClient(communicator)

    return open_socket


async def opened(client: MuxClient) -> MuxClient:
    """`client` once its personal stream is ready (and it is past the replay)."""
    await client.next("stream.ready")
    return client


@pytest.fixture
def connect_chat(login_cookie):
    """`await connect_chat(user, room)` -> a one-stream chat socket past `stream.ready`."""
    open_socket = socket_opener(login_cookie, lambda user: CHAT_SERVER, EPHEMERAL)

    async def open_room(user, room):
        return await open_socket(user, f"/ws/chat/{room.slug}/")

    return open_room


@pytest.fixture
def no_send_limit(settings) -> None:
    settings.CHAT_SEND_LIMIT = 1_000_000
    settings.WEBSOCKET_FLOOD_BURST = 1_000_000


@pytest.fixture
def room(db):
    counter = iter(range(1, 1000))

    def make(name: str | None = None):
        return services.room_create(name=name or f"Room {next(counter)}", created_by=None)

    return make


def post(room, author, body: str) -> None:
    services.message_create(room=room, author=author, body=body, client_id=body)


async def test_a_socket_opens_on_the_personal_stream_and_joins_and_leaves_rooms(
    open_mux, make_user, room
):
    ann, bob = await db(make_user)(), await db(make_user)()
    lobby, other = await db(room)("Lobby"), await db(room)("Other")
    await db(post)(lobby, bob, "before")
    client = await open_mux(ann)
    assert await client.next("stream.ready") == {"stream": "user", "type": "stream.ready", "seq": 0}

    assert await client.join("chat:lobby") == [
        {"stream": "chat:lobby", "type": "stream.ready", "seq": 1}
    ]
    assert await client.join("chat:other") == [
        {"stream": "chat:other", "type": "stream.ready", "seq": 0}
    ]
    await db(post)(lobby, bob, "live")
    (frame,) = await client.events(1)
    assert (frame["stream"], frame["seq"], frame["message"]["body"]) == ("chat:lobby", 2, "live")

    await client.send({"type": "stream.leave", "stream": "chat:lobby"})
    assert await client.next("stream.left") == {"type": "stream.left", "stream": "chat:lobby"}
    # Left: the lobby's next message does not come, the other room's after it does.
    await db(post)(lobby, bob, "unheard")
    await db(post)(other, bob, "heard")
    (frame,) = await client.events(1)
    assert (frame["stream"], frame["message"]["body"]) == ("chat:other", "heard")
    await client.close()


async def test_anonymous_sockets_are_closed_with_session_ended(open_mux):
    client = await open_mux(None)
    assert await client.close_code() == 4401


async def test_a_join_with_after_replays_exactly_what_the_stream_missed(open_mux, make_user, room):
    ann, bob = await db(make_user)(), await db(make_user)()
    lobby = await db(room)("Lobby")
    for n in range(5):
        await db(post)(lobby, bob, f"m{n}")
    client = await opened(await open_mux(ann))
    frames = await client.join("chat:lobby", after=2)
    assert [(f["type"], f.get("seq")) for f in frames] == [
        ("chat.message", 3),
        ("chat.message", 4),
        ("chat.message", 5),
        ("stream.ready", 5),
    ]
    assert {f["stream"] for f in frames} == {"chat:lobby"}
    # A second join of a stream already followed is a sync.
    frames = await client.join("chat:lobby", after=4)
    assert [(f["type"], f["seq"]) for f in frames] == [("chat.message", 5), ("stream.ready", 5)]
    await client.send({"type": "stream.sync", "stream": "chat:lobby", "after": 3})
    frames = [await client.next("chat.message", "stream.ready") for _ in range(3)]
    assert [(f["type"], f["seq"]) for f in frames] == [
        ("chat.message", 4),
        ("chat.message", 5),
        ("stream.ready", 5),
    ]
    await client.close()


async def test_interleaved_streams_arrive_each_once_and_in_order_on_one_socket(
    open_mux, make_user, room, no_send_limit
):
    ann, bob = await db(make_user)(), await db(make_user)()
    rooms = [await db(room)(f"R{n}") for n in range(3)]
    a, b = await opened(await open_mux(ann)), await opened(await open_mux(bob))
    for client in (a, b):
        for r in rooms:
            await client.join(f"chat:{r.slug}")
    for n in range(30):
        for r in rooms:
            sender = a if n % 2 else b
            frame = {"type": "chat.send", "stream": f"chat:{r.slug}", "body": f"{r.slug}-{n}"}
            await sender.send({**frame, "client_id": f"{r.slug}-{n}"})
    for client in (a, b):
        frames = await client.events(90)
        for r in rooms:
            mine = [f for f in frames if f["stream"] == f"chat:{r.slug}"]
            assert [f["seq"] for f in mine] == list(range(1, 31))
            bodies = [f["message"]["body"] for f in mine]
            assert sorted(bodies) == sorted(f"{r.slug}-{n}" for n in range(30))
            # Each sender's own messages stay in the order they were sent.
            for parity in (0, 1):
                sent = [f"{r.slug}-{n}" for n in range(parity, 30, 2)]
                assert [body for body in bodies if body in sent] == sent
    # Nothing came twice: the next event each hears is the next one sent.
    await a.send({"type": "chat.send", "stream": "chat:r0", "body": "last", "client_id": "z"})
    for client in (a, b):
        (frame,) = await client.events(1)
        assert (frame["stream"], frame["seq"]) == ("chat:r0", 31)
    await a.close()
    await b.close()


async def test_a_refused_join_names_its_stream_and_leaves_the_others_untouched(
    open_mux, make_user, room, monkeypatch
):
    ann, bob = await db(make_user)(), await db(make_user)()
    lobby, secret = await db(room)("Lobby"), await db(room)("Secret")
    monkeypatch.setattr(
        chat_streams,
        "rooms_each_readable",
        lambda *, pairs: [room.slug != secret.slug for room, _user in pairs],
    )
    client = await opened(await open_mux(ann))
    await client.join("chat:lobby")
    (refused,) = await client.join("chat:secret")
    assert refused == {
        "type": "error",
        "code": "not_allowed",
        "stream": "chat:secret",
        "detail": refused["detail"],
    }
    (missing,) = await client.join("chat:no-such-room")
    assert (missing["code"], missing["stream"]) == ("not_found", "chat:no-such-room")
    (unknown,) = await client.join("nothing:here")
    assert (unknown["code"], unknown["stream"]) == ("not_found", "nothing:here")
    await db(post)(secret, bob, "hidden")
    await db(post)(lobby, bob, "shown")
    (frame,) = await client.events(1)
    assert (frame["stream"], frame["message"]["body"]) == ("chat:lobby", "shown")
    assert (await client.ping())["heads"] == {"user": 0, "chat:lobby": 1}
    await client.close()


async def test_a_socket_follows_at_most_streams_per_socket(open_mux, make_user, room, settings):
    settings.STREAMS_PER_SOCKET = 2
    ann = await db(make_user)()
    for n in range(3):
        await db(room)(f"R{n}")
    client = await opened(await open_mux(ann))
    await client.join("chat:r0")
    await client.join("chat:r1")
    (refused,) = await client.join("chat:r2")
    assert (refused["code"], refused["stream"]) == ("not_allowed", "chat:r2")
    assert set((await client.ping())["heads"]) == {"user", "chat:r0", "chat:r1"}
    await client.close()


async def test_commands_go_to_their_stream_and_errors_name_the_stream_and_client_id(
    open_mux, make_user, make_editor, room
):
    ann, bob = await db(make_user)(), await db(make_user)()
    lobby = await db(room)("Lobby")
    await db(room)("Other")
    await db(room)("Unjoined")
    editor = await db(make_editor)()
    blog = await db(liveblog_services.liveblog_create)(title="Live", by=editor)
    client = await opened(await open_mux(ann))
    for stream in ("chat:lobby", "chat:other", f"liveblog:{blog.slug}"):
        await client.join(stream)

    send = {"type": "chat.send", "stream": "chat:other", "body": "hi", "client_id": "c1"}
    await client.send(send)
    (frame,) = await client.events(1)
    assert (frame["stream"], frame["message"]["body"]) == ("chat:other", "hi")
    # The retry of c1 comes back on its stream, to this socket only.
    await client.send(send)
    (frame,) = await client.events(1)
    assert (frame["stream"], frame["seq"], frame["message"]["client_id"]) == ("chat:other", 1, "c1")

    async def error_for(frame: dict) -> dict:
        await client.send(frame)
        return await client.next("error")

    cases = [
        ({**send, "stream": "chat:unjoined", "client_id": "c2"}, "not_allowed", "chat:unjoined"),
        ({**send, "body": " ", "client_id": "c3"}, "invalid_frame", "chat:other"),
        ({**send, "body": "x" * 4001, "client_id": "c4"}, "too_long", "chat:other"),
        ({**send, "extra": 1, "client_id": "c5"}, "invalid_frame", "chat:other"),
        (
            {"type": "chat.nope", "stream": "chat:lobby", "client_id": "c6"},
            "unknown_type",
            "chat:lobby",
        ),
        (
            {**send, "stream": f"liveblog:{blog.slug}", "client_id": "c7"},
            "not_allowed",
            f"liveblog:{blog.slug}",
        ),
    ]
    for frame, code, stream in cases:
        error = await error_for(frame)
        assert (error["code"], error["stream"], error["client_id"]) == (
            code,
            stream,
            frame["client_id"],
        )
    message = await db(services.message_create)(room=lobby, author=bob, body="bob's", client_id="b")
    (frame,) = await client.events(1)
    error = await error_for(
        {"type": "chat.edit", "stream": "chat:lobby", "id": message[0].pk, "body": "mine"}
    )
    assert (error["code"], error["stream"]) == ("not_allowed", "chat:lobby")
    assert "client_id" not in error
    error = await error_for({"type": "chat.send", "body": "where?", "client_id": "c8"})
    assert (error["code"], error["client_id"]) == ("invalid_frame", "c8")
    assert "stream" not in error
    await client.close()


async def test_the_personal_stream_resumes_from_after_and_streams_live(open_mux, make_user):
    ann, bob = await db(make_user)(), await db(make_user)()
    for n in range(1, 4):
        await db(personal_append)(user=ann, frame=Note, text=f"n{n}")
    await db(personal_append)(user=bob, frame=Note, text="bob's own")
    client = await open_mux(ann, after=1)
    frames = [await client.next("user.note", "stream.ready") for _ in range(3)]
    assert frames == [
        {"stream": "user", "type": "user.note", "seq": 2, "text": "n2"},
        {"stream": "user", "type": "user.note", "seq": 3, "text": "n3"},
        {"stream": "user", "type": "stream.ready", "seq": 3},
    ]
    await db(personal_append)(user=bob, frame=Note, text="not ann's")
    await db(personal_append)(user=ann, frame=Note, text="live")
    (frame,) = await client.events(1, personal=True)
    assert frame == {"stream": "user", "type": "user.note", "seq": 4, "text": "live"}
    await client.send({"type": "stream.leave", "stream": "user"})
    error = await client.next("error")
    assert (error["code"], error["stream"]) == ("not_allowed", "user")
    await client.close()


async def test_revoking_a_users_stream_drops_only_that_stream(
    open_mux, connect_chat, make_user, room
):
    ann, bob = await db(make_user)(), await db(make_user)()
    lobby, secret = await db(room)("Lobby"), await db(room)("Secret")
    mux = await opened(await open_mux(ann))
    await mux.join("chat:lobby")
    await mux.join("chat:secret")
    on_secret, on_lobby = await connect_chat(ann, secret), await connect_chat(ann, lobby)
    bobs = await connect_chat(bob, secret)

    def revoke():
        with transaction.atomic():
            subscriptions_revoke(user_id=ann.pk, stream="chat:secret")

    await db(revoke)()
    assert await mux.next("stream.left") == {
        "type": "stream.left",
        "stream": "chat:secret",
        "reason": "not_allowed",
    }
    assert await close_code(on_secret.communicator) == 4403
    await db(post)(secret, bob, "after")
    await db(post)(lobby, bob, "still here")
    (frame,) = await mux.events(1)
    assert (frame["stream"], frame["message"]["body"]) == ("chat:lobby", "still here")
    assert [f["message"]["body"] for f in await on_lobby.events(1)] == ["still here"]
    assert [f["message"]["body"] for f in await bobs.events(1)] == ["after"]
    for client in (mux, on_lobby, bobs):
        await client.close()


async def test_a_one_stream_socket_on_the_same_room_gets_the_same_frames_untagged(
    open_mux, connect_chat, make_user, room
):
    ann, bob = await db(make_user)(), await db(make_user)()
    lobby = await db(room)("Lobby")
    mux = await opened(await open_mux(ann))
    await mux.join("chat:lobby")
    one = await connect_chat(bob, lobby)
    await db(post)(lobby, bob, "hello")
    (tagged,) = await mux.events(1)
    (untagged,) = await one.events(1)
    assert tagged == {"stream": "chat:lobby", **untagged}
    assert "stream" not in untagged
    await mux.close()
    await one.close()


async def test_a_multiplexed_socket_counts_once_towards_the_socket_limit(
    open_mux, connect_chat, make_user, room, settings
):
    settings.SOCKETS_PER_USER = 2
    ann = await db(make_user)()
    rooms = [await db(room)(f"R{n}") for n in range(3)]
    mux = await opened(await open_mux(ann))
    for r in rooms:
        await mux.join(f"chat:{r.slug}")
    second = await connect_chat(ann, rooms[0])
    third = await open_mux(ann)
    assert await third.close_code() == 4429
    await second.close()
    await mux.close()


async def test_presence_counts_a_multiplexed_tab_in_each_room_it_joins(
    open_mux, connect_chat, make_user, room
):
    ann, bob = await db(make_user)(), await db(make_user)()
    lobby = await db(room)("Lobby")
    one = await connect_chat(bob, lobby)
    mux = await opened(await open_mux(ann))
    await mux.join("chat:lobby")
    await one.here(sorted([ann.username, bob.username]))
    # The tab is told the lobby's state, then its diffs, each tagged with the stream.
    lobby_here = PresenceView()
    while lobby_here.users != sorted([ann.username, bob.username]):
        frame = await mux.next("presence.state", "presence.diff")
        assert frame.pop("stream") == "chat:lobby"
        lobby_here.apply(frame)
    await mux.close()
    await one.here([bob.username])
    await one.close()


async def test_rejoining_fifty_rooms_at_once_takes_a_few_queries(
    open_mux, make_user, room, monkeypatch
):
    # The presence announcement comes later, on its own: not part of the join.
    monkeypatch.setattr(hub_module, "PRESENCE_COALESCE", 3600)
    ann, bob = await db(make_user)(), await db(make_user)()
    rooms = [await db(room)(f"R{n}") for n in range(50)]
    for r in rooms:
        await db(post)(r, bob, "a")
        await db(post)(r, bob, "b")
    client = await opened(await open_mux(ann))
    queries = await db(lambda: CaptureQueriesContext(connections["default"]))()
    await db(queries.__enter__)()
    for r in rooms:
        await client.send({"type": "stream.join", "stream": f"chat:{r.slug}", "after": 1})
    ready = set()
    while len(ready) < 50:
        frame = await client.next("stream.ready", "chat.message")
        if frame["type"] == "stream.ready":
            assert frame["seq"] == 2
            ready.add(frame["stream"])
    await client.ping()  # after the joins' presence rows are written
    await db(queries.__exit__)(None, None, None)
    # The joins gather into a batch or two (those that came while the first was
    # being resolved form the next), each read and written in the same few
    # statements however many rooms it has: the rooms, their heads, their events,
    # and one insert of their presence rows (in its transaction, on SQLite).
    statements = [query["sql"] for query in queries.captured_queries]
    batches = sum(sql.startswith('SELECT "chat_room"') for sql in statements)
    assert 1 <= batches <= 3, statements
    assert len(statements) <= 6 * batches + 1, statements  # and the ping's heads
    await client.close()


async def test_chat_read_moves_the_read_position_and_every_tab_hears_it(open_mux, make_user, room):
    ann, bob = await db(make_user)(), await db(make_user)()
    lobby = await db(room)("Lobby")
    await db(services.room_join)(room=lobby, user=ann)
    for n in range(3):
        await db(post)(lobby, bob, f"m{n}")
    tab, other_tab = await opened(await open_mux(ann)), await opened(await open_mux(ann))
    await tab.join("chat:lobby")
    await tab.send({"type": "chat.read", "stream": "chat:lobby", "seq": 2})
    for client in (tab, other_tab):
        (frame,) = await client.events(1, personal=True)
        assert (frame["type"], frame["room"], frame["read"]) == ("user.read", "chat:lobby", 2)
    await tab.close()
    await other_tab.close()


async def test_a_private_room_is_refused_to_others_and_dropped_when_a_member_is_removed(
    open_mux, make_user
):
    owner, bob, eve = [await db(make_user)() for _ in range(3)]

    def private_room():
        staff = services.room_create(name="Staff", created_by=owner, kind="private")
        services.member_add(room=staff, by=owner, user=bob)
        return staff

    staff = await db(private_room)()
    intruder = await opened(await open_mux(eve))
    (refused,) = await intruder.join("chat:staff")
    assert (refused["code"], refused["stream"]) == ("not_allowed", "chat:staff")
    member = await opened(await open_mux(bob))
    await member.join("chat:staff")

    def remove():
        with transaction.atomic():
            services.member_remove(room=staff, by=owner, user=bob)

    await db(remove)()
    left = await member.next("stream.left")
    assert left == {"type": "stream.left", "stream": "chat:staff", "reason": "not_allowed"}
    await intruder.close()
    await member.close()


async def test_a_tab_rejoining_more_streams_than_the_flood_burst_is_not_closed(
    open_mux, make_user, room, settings
):
    settings.WEBSOCKET_FLOOD_BURST = 5
    settings.STREAMS_PER_SOCKET = 12
    ann = await db(make_user)()
    rooms = [await db(room)(f"R{n}") for n in range(12)]
    client = await opened(await open_mux(ann))
    for r in rooms:
        await client.send({"type": "stream.join", "stream": f"chat:{r.slug}"})
    ready = {(await client.next("stream.ready"))["stream"] for _ in rooms}
    assert ready == {f"chat:{r.slug}" for r in rooms}
    assert len((await client.ping())["heads"]) == 13
    await client.close()
