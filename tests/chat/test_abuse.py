"""Bad input and abuse on the chat socket, frame type by frame type, on the real ASGI application.

Each refused frame gets its documented answer (docs/protocol.md, "Errors and
limits"): an error frame with its code, and the frame's `client_id` when it
had a string one, on a socket that stays up; or a close code. Nothing is
stored either way: the room's head, its events and its messages are what they
were. Frames only a real server produces (invalid UTF-8, frames over daphne's
size limit) go to the suite's daphne over a real socket, at the end.

Marked `stack`: these run on the embedded default and again on PostgreSQL + Redis.
"""

import json
from dataclasses import dataclass

import pytest
from websockets.sync.client import connect

from chat import services
from chat.models import Message, Room, RoomEvent
from chat.protocol import SERVER
from tests.support.orm import db
from tests.support.sockets import PRESENCE, PresenceView, closed_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

BIG = 10**30
LONG_BODY = "x" * 4001


def send(**fields) -> str:
    return json.dumps({"type": "chat.send", "body": "hello", "client_id": "c1"} | fields)


def edit(**fields) -> str:
    return json.dumps({"type": "chat.edit", "id": "MINE", "body": "changed"} | fields)


def delete(**fields) -> str:
    return json.dumps({"type": "chat.delete", "id": "MINE"} | fields)


def case(text: str, code: str, client_id: str | None = None, *, id: str):  # noqa: A002
    return pytest.param(text, code, client_id, id=id)


# (frame text, error code, client_id the error carries). "MINE", "THEIRS" and
# "GONE" (quoted or not) stand for the ids of ann's message, bob's, and one of
# ann's that was deleted; ann sends every frame.
REFUSED = [
    # Not a frame at all.
    case("{not json", "invalid_json", id="not json"),
    case("", "invalid_json", id="empty text"),
    case('{"type": "ping"} trailing', "invalid_json", id="json then garbage"),
    case('{"type": "stream.sync", "after": ' + "9" * 5000 + "}", "invalid_json", id="5000 digits"),
    case("[1, 2]", "invalid_frame", id="array"),
    case('[{"type": "ping"}]', "invalid_frame", id="frame in an array"),
    case('"chat.send"', "invalid_frame", id="string"),
    case("42", "invalid_frame", id="number"),
    case("null", "invalid_frame", id="null"),
    case("true", "invalid_frame", id="boolean"),
    case("[" * 30_000 + "]" * 30_000, "invalid_frame", id="arrays too deep to parse"),
    case('{"a": ' * 5_000 + "1" + "}" * 5_000, "invalid_frame", id="objects too deep to parse"),
    case(
        send(pad=[[[[[[[[["deep"]]]]]]]]], client_id="deep"),
        "invalid_frame",
        "deep",
        id="send nested deeper than any frame",
    ),
    # The envelope.
    case('{"body": "x", "client_id": "c1"}', "invalid_frame", "c1", id="no type"),
    case(send(type=None), "invalid_frame", "c1", id="type null"),
    case(send(type=1), "invalid_frame", "c1", id="type number"),
    case(send(type=["chat.send"]), "invalid_frame", "c1", id="type list"),
    case(send(type="Chat.Send"), "unknown_type", "c1", id="type capitalised"),
    case(send(type="CHAT.SEND"), "unknown_type", "c1", id="type upper case"),
    case(send(type=" chat.send"), "unknown_type", "c1", id="type padded"),
    case(send(type="chat_send"), "unknown_type", "c1", id="type underscored"),
    case(send(type="chat.message"), "unknown_type", "c1", id="a server frame's type"),
    case(send(type="x" * 5000), "unknown_type", "c1", id="type of 5000 characters"),
    # Escapes JSON allows and no database stores.
    case('{"type": "chat.send", "body": "a\\u0000b", "client_id": "c1"}', "invalid_frame", "c1",
         id="send body with NUL"),
    case('{"type": "chat.send", "body": "a\\ud800b", "client_id": "c1"}', "invalid_frame", "c1",
         id="send body with lone high surrogate"),
    case('{"type": "chat.send", "body": "\\udfff", "client_id": "c1"}', "invalid_frame", "c1",
         id="send body with lone low surrogate"),
    case('{"type": "chat.send", "body": "x", "client_id": "c\\u0000"}', "invalid_frame",
         id="send client_id with NUL"),
    case('{"type": "chat.send", "body": "x", "client_id": "\\ud800"}', "invalid_frame",
         id="send client_id with lone surrogate"),
    case('{"type": "chat.send", "body": "x", "client_id": "c1", "\\u0000": 1}', "invalid_frame",
         "c1", id="key with NUL"),
    case('{"type": "chat.send", "body": "x", "client_id": "c1", "\\ud800": 1}', "invalid_frame",
         "c1", id="key with lone surrogate"),
    case('{"type": "chat.edit", "id": MINE, "body": "a\\u0000"}', "invalid_frame", id="edit NUL"),
    case('{"type": "chat.edit", "id": MINE, "body": "\\udbff"}', "invalid_frame",
         id="edit lone surrogate"),
    # chat.send
    case('{"type": "chat.send", "client_id": "c1"}', "invalid_frame", "c1", id="send no body"),
    case(send(body=None), "invalid_frame", "c1", id="send body null"),
    case(send(body=42), "invalid_frame", "c1", id="send body number"),
    case(send(body=True), "invalid_frame", "c1", id="send body boolean"),
    case(send(body=["hello"]), "invalid_frame", "c1", id="send body list"),
    case(send(body={"text": "hello"}), "invalid_frame", "c1", id="send body object"),
    case(send(body=""), "invalid_frame", "c1", id="send body empty"),
    case(send(body=" \n\t "), "invalid_frame", "c1", id="send body blank"),
    case(send(body=LONG_BODY), "too_long", "c1", id="send body over 4000"),
    case(send(body="€" * 4001), "too_long", "c1", id="send body over 4000 multibyte"),
    case('{"type": "chat.send", "body": "x"}', "invalid_frame", id="send no client_id"),
    case(send(client_id=None), "invalid_frame", id="send client_id null"),
    case(send(client_id=7), "invalid_frame", id="send client_id number"),
    case(send(client_id=["c1"]), "invalid_frame", id="send client_id list"),
    case(send(client_id=""), "invalid_frame", "", id="send client_id empty"),
    case(send(client_id="c" * 65), "invalid_frame", "c" * 65, id="send client_id over 64"),
    case(send(author="bob"), "invalid_frame", "c1", id="send spoofing author"),
    case(send(seq=1), "invalid_frame", "c1", id="send spoofing seq"),
    case(send(id=1), "invalid_frame", "c1", id="send spoofing id"),
    case(send(html="<b>x</b>"), "invalid_frame", "c1", id="send spoofing html"),
    case(send(created_at="2000-01-01T00:00:00+00:00"), "invalid_frame", "c1",
         id="send spoofing created_at"),
    case(send(message={"author": "bob"}), "invalid_frame", "c1", id="send spoofing message"),
    case(send(Type="chat.send"), "invalid_frame", "c1", id="send with Type key too"),
    case(send(BODY="x"), "invalid_frame", "c1", id="send with BODY key too"),
    # chat.edit
    case('{"type": "chat.edit", "body": "x"}', "invalid_frame", id="edit no id"),
    case(edit(id=None), "invalid_frame", id="edit id null"),
    case(edit(id="1"), "invalid_frame", id="edit id as string"),
    case(edit(id=True), "invalid_frame", id="edit id true"),
    case('{"type": "chat.edit", "id": MINE.0, "body": "x"}', "invalid_frame", id="edit id float"),
    case(edit(id=1.5), "invalid_frame", id="edit id fraction"),
    case(edit(id=0), "invalid_frame", id="edit id zero"),
    case(edit(id=-1), "invalid_frame", id="edit id negative"),
    case(edit(id=BIG), "not_found", id="edit id 10^30"),
    case(edit(id=-BIG), "invalid_frame", id="edit id -10^30"),
    case(edit(id=2**63), "not_found", id="edit id 2^63"),
    case('{"type": "chat.edit", "id": 1e400, "body": "x"}', "invalid_frame", id="edit id infinity"),
    case('{"type": "chat.edit", "id": NaN, "body": "x"}', "invalid_frame", id="edit id NaN"),
    case(edit(id=999_999), "not_found", id="edit id of no message"),
    case(edit(id="GONE"), "not_found", id="edit a deleted message"),
    case(edit(id="THEIRS"), "not_allowed", id="edit someone elses message"),
    case('{"type": "chat.edit", "id": MINE}', "invalid_frame", id="edit no body"),
    case(edit(body=None), "invalid_frame", id="edit body null"),
    case(edit(body=1), "invalid_frame", id="edit body number"),
    case(edit(body="  "), "invalid_frame", id="edit body blank"),
    case(edit(body=LONG_BODY), "too_long", id="edit body over 4000"),
    case(edit(author="bob"), "invalid_frame", id="edit spoofing author"),
    case(edit(seq=1), "invalid_frame", id="edit spoofing seq"),
    case(edit(client_id="c1"), "invalid_frame", "c1", id="edit with a client_id"),
    # chat.delete
    case('{"type": "chat.delete"}', "invalid_frame", id="delete no id"),
    case(delete(id=None), "invalid_frame", id="delete id null"),
    case(delete(id="1"), "invalid_frame", id="delete id as string"),
    case(delete(id=False), "invalid_frame", id="delete id false"),
    case('{"type": "chat.delete", "id": MINE.0}', "invalid_frame", id="delete id float"),
    case(delete(id=-1), "invalid_frame", id="delete id negative"),
    case(delete(id=BIG), "not_found", id="delete id 10^30"),
    case(delete(id=2**63), "not_found", id="delete id 2^63"),
    case(delete(id=999_999), "not_found", id="delete id of no message"),
    case(delete(id="GONE"), "not_found", id="delete a deleted message"),
    case(delete(id="THEIRS"), "not_allowed", id="delete someone elses message"),
    case(delete(body=""), "invalid_frame", id="delete with a body"),
    case(delete(ids=["MINE", "THEIRS"]), "invalid_frame", id="delete with ids"),
    # chat.typing
    case('{"type": "chat.typing", "user": "bob"}', "invalid_frame", id="typing spoofing user"),
    case('{"type": "chat.typing", "client_id": "t"}', "invalid_frame", "t", id="typing client_id"),
    case('{"type": "chat.typing", "typing": true}', "invalid_frame", id="typing with a flag"),
    # ping
    case('{"type": "ping", "seq": 1}', "invalid_frame", id="ping with seq"),
    case('{"type": "ping", "client_id": "p"}', "invalid_frame", "p", id="ping with client_id"),
    case('{"type": "PING"}', "unknown_type", id="ping upper case"),
    case('{"type": "pong", "seq": 0}', "unknown_type", id="a pong"),
    # stream.sync
    case('{"type": "stream.sync"}', "invalid_frame", id="sync no after"),
    case('{"type": "stream.sync", "after": null}', "invalid_frame", id="sync after null"),
    case('{"type": "stream.sync", "after": "1"}', "invalid_frame", id="sync after string"),
    case('{"type": "stream.sync", "after": true}', "invalid_frame", id="sync after true"),
    case('{"type": "stream.sync", "after": 1.0}', "invalid_frame", id="sync after float"),
    case('{"type": "stream.sync", "after": -1}', "invalid_frame", id="sync after negative"),
    case('{"type": "stream.sync", "after": -1e30}', "invalid_frame", id="sync after -10^30"),
    case('{"type": "stream.sync", "after": 1e400}', "invalid_frame", id="sync after infinity"),
    case('{"type": "stream.sync", "after": 0, "seq": 5}', "invalid_frame", id="sync with seq"),
]  # fmt: skip


@dataclass
class Scene:
    """A room where ann has a message, bob has one, and ann deleted one."""

    room: Room
    ann: object
    bob: object
    ids: dict[str, int]

    def fill(self, text: str) -> str:
        for name, pk in self.ids.items():
            text = text.replace(f'"{name}"', str(pk)).replace(name, str(pk))
        return text

    def state(self) -> tuple:
        """Everything a frame could have changed: the head, the log, every message."""
        room = Room.objects.get(pk=self.room.pk)
        events = list(RoomEvent.objects.filter(room=room).values_list("seq", "frame"))
        messages = list(
            Message.objects.order_by("pk").values_list(
                "pk", "author_id", "body", "client_id", "edited_at", "deleted_at"
            )
        )
        return room.last_seq, events, messages


@pytest.fixture
def scene(make_room, make_user) -> Scene:
    room, ann, bob = make_room(), make_user(username="ann"), make_user(username="bob")
    mine, _ = services.message_create(room=room, author=ann, body="mine", client_id="m1")
    theirs, _ = services.message_create(room=room, author=bob, body="theirs", client_id="t1")
    gone, _ = services.message_create(room=room, author=ann, body="gone", client_id="g1")
    services.message_delete(room=room, message_id=gone.pk, by=ann)
    return Scene(room, ann, bob, {"MINE": mine.pk, "THEIRS": theirs.pk, "GONE": gone.pk})


async def send_raw(client, text: str) -> None:
    """One text frame, even an empty one (which WebsocketCommunicator.send_to refuses)."""
    await client.communicator.send_input({"type": "websocket.receive", "text": text})


async def closed_with(client) -> int:
    """Read until the socket closes: its close code. What comes first must be frames of the
    protocol."""
    while (output := await client.communicator.receive_output(10))["type"] != "websocket.close":
        client.protocol.check(json.loads(output["text"]))
    return output["code"]


# Refused frames ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "code", "client_id"), REFUSED)
async def test_a_refused_frame_gets_its_error_the_socket_stays_up_and_nothing_changes(
    connect, scene, text, code, client_id
):
    before = await db(scene.state)()
    a = await connect(scene.ann, scene.room)
    await send_raw(a, scene.fill(text))
    error = await a.receive_type("error")
    assert (error["code"], error.get("client_id")) == (code, client_id), error["detail"]
    assert error["detail"]
    assert (await a.ping())["seq"] == before[0]
    assert await db(scene.state)() == before
    await a.close()


async def test_a_binary_frame_gets_invalid_frame_and_the_socket_stays_up(connect, scene):
    before = await db(scene.state)()
    a = await connect(scene.ann, scene.room)
    await a.communicator.send_to(bytes_data=send().encode())
    error = await a.receive_type("error")
    assert error["code"] == "invalid_frame" and "client_id" not in error
    assert (await a.ping())["type"] == "pong"
    assert await db(scene.state)() == before
    await a.close()


async def test_after_a_string_of_refusals_the_socket_still_sends(connect, scene, settings):
    settings.WEBSOCKET_FLOOD_BURST = len(REFUSED) + 10
    a = await connect(scene.ann, scene.room)
    for text, code, _client_id in (param.values for param in REFUSED):
        await send_raw(a, scene.fill(text))
        assert (await a.receive_type("error"))["code"] == code
    await a.send({"type": "chat.send", "body": "still here", "client_id": "ok"})
    (frame,) = await a.events(1)
    assert (frame["message"]["body"], frame["message"]["author"]) == ("still here", "ann")
    await a.close()


# What looks odd and is accepted --------------------------------------------------------------


async def test_an_escaped_surrogate_pair_is_one_character_and_is_stored(connect, scene):
    a = await connect(scene.ann, scene.room)
    await a.send_text('{"type": "chat.send", "body": "hi \\ud83d\\ude00", "client_id": "emoji"}')
    (frame,) = await a.events(1)
    assert frame["message"]["body"] == "hi \U0001f600"
    assert await db(Message.objects.filter(body="hi \U0001f600").count)() == 1
    await a.close()


async def test_a_client_id_someone_else_used_makes_a_message_of_ones_own(connect, scene):
    # bob's message was sent with client_id "t1": ann's "t1" is hers, and bob's stays his.
    a = await connect(scene.ann, scene.room)
    await a.send({"type": "chat.send", "body": "my own", "client_id": "t1"})
    (frame,) = await a.events(1)
    assert frame["type"] == "chat.message"
    assert (frame["message"]["author"], frame["message"]["body"]) == ("ann", "my own")
    theirs = await db(Message.objects.get)(pk=scene.ids["THEIRS"])
    assert theirs.body == "theirs"
    await a.close()


async def test_a_sync_after_10_to_the_30_replays_from_the_head(connect, scene):
    a = await connect(scene.ann, scene.room)
    await a.send_text('{"type": "stream.sync", "after": ' + str(BIG) + "}")
    assert (await a.receive_type("stream.ready"))["seq"] == a.ready_seq
    await a.close()


# Oversize frames -----------------------------------------------------------------------------


OVERSIZE = [
    pytest.param(send(body="x" * 70_000), id="a send of 70 KB"),
    pytest.param(send(body="€" * 22_000), id="a send of 22,000 three-byte characters"),
    pytest.param(edit(body="x" * 70_000), id="an edit of 70 KB"),
    pytest.param("x" * 70_000, id="70 KB of not JSON"),
    pytest.param(" " * 70_000 + '{"type": "ping"}', id="a ping after 70 KB of spaces"),
    pytest.param("[" * 70_000, id="70 KB of brackets"),
]


@pytest.mark.parametrize("text", OVERSIZE)
async def test_a_frame_over_64_kib_closes_the_socket_with_4009_unprocessed(connect, scene, text):
    before = await db(scene.state)()
    a = await connect(scene.ann, scene.room)
    await a.send_text(scene.fill(text))
    assert await closed_with(a) == 4009
    assert await db(scene.state)() == before


async def test_a_frame_of_exactly_64_kib_is_read_and_answered(connect, scene):
    a = await connect(scene.ann, scene.room)
    text = send(body="", client_id="edge")
    text = text.replace('"body": ""', '"body": "' + "x" * (64 * 1024 - len(text)) + '"')
    assert len(text.encode()) == 64 * 1024
    await a.send_text(text)
    error = await a.receive_type("error")
    assert (error["code"], error["client_id"]) == ("too_long", "edge")
    await a.close()


# Floods ----------------------------------------------------------------------------------------


FLOODS = [
    pytest.param("[]", id="non-frames"),
    pytest.param('{"type": "ping"}', id="pings"),
    pytest.param('{"type": "chat.typing"}', id="typing"),
    pytest.param(send(body=LONG_BODY), id="refused sends"),
    pytest.param(edit(id=999_999), id="edits of no message"),
    pytest.param('{"type": "stream.sync", "after": 0}', id="syncs"),
]


@pytest.mark.parametrize("text", FLOODS)
async def test_a_socket_that_floods_is_closed_with_4029_and_the_users_others_stay_up(
    connect, scene, settings, text
):
    settings.WEBSOCKET_FLOOD_BURST = 20
    settings.WEBSOCKET_FLOOD_RATE = 1
    before = await db(scene.state)()
    calm = await connect(scene.ann, scene.room)
    flooding = await connect(scene.ann, scene.room)
    for _ in range(60):
        await flooding.send_text(scene.fill(text))
    assert await closed_with(flooding) == 4029
    assert await db(scene.state)() == before
    assert (await calm.ping())["type"] == "pong"
    await calm.close()


# Per-user limits, across sockets ----------------------------------------------------------------


def sends(ids: list[int]) -> list[dict]:
    return [{"type": "chat.send", "body": f"s{n}", "client_id": f"s{n}"} for n in range(len(ids))]


def edits(ids: list[int]) -> list[dict]:
    return [{"type": "chat.edit", "id": pk, "body": f"edit {n}"} for n, pk in enumerate(ids)]


def deletes(ids: list[int]) -> list[dict]:
    return [{"type": "chat.delete", "id": pk} for pk in ids]


def edits_and_deletes(ids: list[int]) -> list[dict]:
    return [(edits if n % 2 else deletes)([pk])[0] for n, pk in enumerate(ids)]


LIMITS = [
    pytest.param("CHAT_SEND_LIMIT", sends, id="sends"),
    pytest.param("CHAT_CHANGE_LIMIT", edits, id="edits"),
    pytest.param("CHAT_CHANGE_LIMIT", deletes, id="deletes"),
    pytest.param("CHAT_CHANGE_LIMIT", edits_and_deletes, id="edits and deletes together"),
]


@pytest.mark.parametrize(("limit_name", "frames_for"), LIMITS)
async def test_a_per_user_limit_counts_every_socket_of_the_user_and_nobody_elses(
    connect, scene, settings, limit_name, frames_for
):
    limit = 4
    setattr(settings, limit_name, limit)
    # The limits count in fixed windows of the clock: in an hour-long one, a burst
    # that takes well under a second all but never spans two.
    settings.CHAT_SEND_WINDOW = 3600
    own = [
        (await db(services.message_create)(
            room=scene.room, author=scene.ann, body=f"own {n}", client_id=f"own{n}"
        ))[0].pk
        for n in range(limit + 1)
    ]  # fmt: skip
    frames = frames_for(own)
    tabs = [await connect(scene.ann, scene.room) for _ in range(3)]
    for n, frame in enumerate(frames[:limit]):
        await tabs[n % 3].send(frame)
    for tab in tabs:
        await tab.events(limit)
    before = await db(scene.state)()

    extra = frames[limit]
    await tabs[limit % 3].send(extra)
    error = await tabs[limit % 3].receive_type("error")
    assert (error["code"], error.get("client_id")) == ("rate_limited", extra.get("client_id"))
    assert (await tabs[limit % 3].ping())["type"] == "pong"
    assert await db(scene.state)() == before
    # Another user is not held back by ann's count.
    b = await connect(scene.bob, scene.room)
    await b.send(frames_for([scene.ids["THEIRS"]])[0])
    (frame,) = await b.events(1)
    assert frame["message"]["author"] == "bob"
    for client in (*tabs, b):
        await client.close()


async def test_typing_from_every_socket_of_a_user_is_told_once(connect, scene, settings):
    # One throttle window for the whole test, however slow the machine.
    settings.CHAT_TYPING_EVERY = 3600
    b = await connect(scene.bob, scene.room)
    tabs = [await connect(scene.ann, scene.room) for _ in range(3)]
    for _ in range(5):
        for tab in tabs:
            await tab.send({"type": "chat.typing"})
    for tab in tabs:
        await tab.ping()  # every typing frame was handled
    # Sent after all of them, ann's message is broadcast after whatever they were.
    await tabs[0].send({"type": "chat.send", "body": "done", "client_id": "done"})
    told = []
    while (frame := await b.receive_type("chat.typing", "chat.message"))["type"] != "chat.message":
        told.append(frame["user"])
    assert told == ["ann"]
    for client in (b, *tabs):
        await client.close()


async def test_a_refused_send_does_not_count_against_the_send_limit(connect, scene, settings):
    settings.CHAT_SEND_LIMIT = 2
    settings.CHAT_SEND_WINDOW = 3600
    a = await connect(scene.ann, scene.room)
    for n in range(5):
        await a.send_text(send(body="   ", client_id=f"blank{n}"))
        assert (await a.receive_type("error"))["code"] == "invalid_frame"
    for n in range(2):
        await a.send({"type": "chat.send", "body": f"ok {n}", "client_id": f"ok{n}"})
    assert [frame["message"]["body"] for frame in await a.events(2)] == ["ok 0", "ok 1"]
    await a.close()


# On a real daphne --------------------------------------------------------------------------------


def _answer(socket) -> dict:
    """The next frame that is not presence."""
    while (frame := json.loads(socket.recv(timeout=10)))["type"] in PRESENCE:
        pass
    SERVER.check(frame)
    return frame


# (what is sent, as websockets' send() takes it; the answer: an error code, or a close code).
# daphne's WebSocket library fails a connection on invalid UTF-8 and on an oversize
# frame by dropping it, before the application sees the frame: the client sees 1006.
ON_DAPHNE = [
    pytest.param((b"\xff\xfe", True), 1006, id="invalid UTF-8 in a text frame"),
    pytest.param(('{"type": "chat.send", "body": "\xed\xa0\x80"}'.encode("latin-1"), True), 1006,
                 id="an encoded surrogate in a text frame"),
    pytest.param((b'{"type": "chat.send", "body": "caf\xc3', True), 1006,
                 id="a text frame cut inside a character"),
    pytest.param((send().encode(), False), "invalid_frame", id="a send as a binary frame"),
    pytest.param((b"\x00\x01\x02", False), "invalid_frame", id="bytes as a binary frame"),
    pytest.param((send(body="x" * 70_000), True), 1006, id="a text frame over 64 KiB"),
    pytest.param((b"x" * 70_000, False), 1006, id="a binary frame over 64 KiB"),
]  # fmt: skip


@pytest.mark.parametrize(("sent", "answer"), ON_DAPHNE)
def test_frames_only_a_real_server_sees_get_their_answer_and_nothing_is_stored(
    daphne_server, make_room, make_user, login_cookie, sent, answer
):
    room, ann, bob = make_room(), make_user(username="ann"), make_user(username="bob")
    url = f"{daphne_server.ws_url}/ws/chat/{room.slug}/"

    def open_as(user):
        headers = {"Cookie": login_cookie(user)}
        return connect(
            url, origin=daphne_server.origin, additional_headers=headers, open_timeout=10
        )

    here = PresenceView()

    def wait_for_presence(users: list[str]) -> None:
        while here.users != users:
            here.apply(json.loads(watcher.recv(timeout=10)))

    with open_as(bob) as watcher, open_as(ann) as socket:
        assert _answer(socket)["type"] == "stream.ready"
        wait_for_presence(["ann", "bob"])
        data, text = sent
        socket.send(data, text=text)
        if isinstance(answer, int):
            assert closed_code(socket) == answer
            # The application saw the socket go: ann is no longer here.
            wait_for_presence(["bob"])
        else:
            assert _answer(socket)["code"] == answer
            socket.send('{"type": "ping"}')
            assert _answer(socket)["type"] == "pong"
    assert not Message.objects.filter(room=room).exists()
    assert Room.objects.get(pk=room.pk).last_seq == 0
