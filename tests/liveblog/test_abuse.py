"""Bad input and abuse on the liveblog socket, which only listens, on the real ASGI application.

A client may send `ping` and `stream.sync`; any other object is `not_allowed`,
whoever sends it. Each refused frame gets its documented answer (docs/protocol.md)
on a socket that stays up, or a close code, and nothing is stored: the
liveblog's heads, its events and its posts are what they were.

Marked `stack`: these run on the embedded default and again on PostgreSQL + Redis.
"""

import json

import pytest
from websockets.sync.client import connect

from liveblog import services
from liveblog.models import Liveblog, LiveblogEvent, Post
from tests.support.orm import db
from tests.support.sockets import closed_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]


def case(text: str, code: str, client_id: str | None = None, *, id: str):  # noqa: A002
    return pytest.param(text, code, client_id, id=id)


def frame(**fields) -> str:
    return json.dumps(fields)


# (frame text, error code, client_id the error carries).
REFUSED = [
    # Not a frame at all.
    case("{not json", "invalid_json", id="not json"),
    case("", "invalid_json", id="empty text"),
    case('{"type": "ping"} {"type": "ping"}', "invalid_json", id="two frames in one"),
    case('{"type": "stream.sync", "after": ' + "9" * 5000 + "}", "invalid_json", id="5000 digits"),
    case('[{"type": "ping"}]', "invalid_frame", id="array"),
    case('"ping"', "invalid_frame", id="string"),
    case("0", "invalid_frame", id="number"),
    case("null", "invalid_frame", id="null"),
    case("false", "invalid_frame", id="boolean"),
    case("[" * 30_000 + "]" * 30_000, "invalid_frame", id="arrays too deep to parse"),
    case(
        frame(type="ping", pad=[[[[[[[[[0]]]]]]]]]), "invalid_frame", id="ping nested too deeply"
    ),
    # Anything but ping and stream.sync, whatever its type.
    case(frame(type="chat.send", body="hi", client_id="c1"), "not_allowed", "c1", id="chat.send"),
    case(frame(type="liveblog.publish", body="hi"), "not_allowed", id="a write"),
    case(frame(type="liveblog.post_created", seq=1, post={"id": 1}), "not_allowed",
         id="a server frame"),
    case(frame(type="liveblog.delete", id=10**30), "not_allowed", id="a delete of id 10^30"),
    case(frame(type="Ping"), "not_allowed", id="Ping capitalised"),
    case(frame(type="STREAM.SYNC", after=0), "not_allowed", id="sync upper case"),
    case(frame(type="ping "), "not_allowed", id="ping padded"),
    case(frame(type="pong", seq=0), "not_allowed", id="a pong"),
    case(frame(body="no type"), "not_allowed", id="no type"),
    case(frame(type=None), "not_allowed", id="type null"),
    case(frame(type=["ping"]), "not_allowed", id="type list"),
    case(frame(type="x" * 5000, client_id="long"), "not_allowed", "long",
         id="type of 5000 characters"),
    case('{"type": "a\\u0000b", "client_id": "c"}', "not_allowed", "c", id="type with NUL"),
    case('{"type": "\\ud800"}', "not_allowed", id="type lone surrogate"),
    # ping
    case(frame(type="ping", seq=1), "invalid_frame", id="ping with seq"),
    case(frame(type="ping", client_id="p"), "invalid_frame", "p", id="ping with client_id"),
    case(frame(type="ping", Type="ping"), "invalid_frame", id="ping with Type too"),
    case('{"type": "ping", "\\u0000": 1}', "invalid_frame", id="ping key with NUL"),
    case('{"type": "ping", "x": "\\udc00"}', "invalid_frame", id="ping lone surrogate"),
    # stream.sync
    case(frame(type="stream.sync"), "invalid_frame", id="sync no after"),
    case(frame(type="stream.sync", after=None), "invalid_frame", id="sync after null"),
    case(frame(type="stream.sync", after="0"), "invalid_frame", id="sync after string"),
    case(frame(type="stream.sync", after=True), "invalid_frame", id="sync after true"),
    case(frame(type="stream.sync", after=0.0), "invalid_frame", id="sync after float"),
    case(frame(type="stream.sync", after=-1), "invalid_frame", id="sync after negative"),
    case(frame(type="stream.sync", after=-(10**30)), "invalid_frame", id="sync after -10^30"),
    case('{"type": "stream.sync", "after": 1e400}', "invalid_frame", id="sync after infinity"),
    case('{"type": "stream.sync", "after": NaN}', "invalid_frame", id="sync after NaN"),
    case(frame(type="stream.sync", after=0, audience="editors"), "invalid_frame",
         id="sync asking for the editors stream"),
]  # fmt: skip


def state(liveblog: Liveblog) -> tuple:
    """Everything a frame could have changed: both heads, the log, every post."""
    heads = Liveblog.objects.values_list("readers_seq", "editors_seq").get(pk=liveblog.pk)
    events = list(
        LiveblogEvent.objects.order_by("audience", "seq").values_list("audience", "seq", "frame")
    )
    posts = list(Post.objects.order_by("pk").values())
    return heads, events, posts


@pytest.fixture
def story(liveblog, editor):
    """A liveblog with a published post and a draft: both streams have events."""
    services.post_create(liveblog=liveblog, by=editor, body="out")
    services.post_create(liveblog=liveblog, by=editor, body="draft", state="draft")
    return liveblog


async def send_raw(client, text: str) -> None:
    """One text frame, even an empty one (which WebsocketCommunicator.send_to refuses)."""
    await client.communicator.send_input({"type": "websocket.receive", "text": text})


async def closed_with(client) -> int:
    """Read until the socket closes: its close code. What comes first must be of the protocol."""
    while (output := await client.communicator.receive_output(10))["type"] != "websocket.close":
        client.protocol.check(json.loads(output["text"]))
    return output["code"]


@pytest.mark.parametrize(("text", "code", "client_id"), REFUSED)
async def test_a_refused_frame_gets_its_error_the_socket_stays_up_and_nothing_changes(
    watch, story, text, code, client_id
):
    before = await db(state)(story)
    reader = await watch(None, story)
    await send_raw(reader, text)
    error = await reader.receive_type("error")
    assert (error["code"], error.get("client_id")) == (code, client_id), error["detail"]
    assert error["detail"]
    assert (await reader.ping())["seq"] == reader.ready_seq
    assert await db(state)(story) == before
    await reader.close()


@pytest.mark.parametrize("who", ["reader", "signed-in reader", "editor"])
async def test_every_refusal_is_the_same_for_readers_and_editors(
    watch, story, editor, make_user, settings, who
):
    settings.WEBSOCKET_FLOOD_BURST = len(REFUSED) + 10
    user = {"reader": None, "editor": editor}.get(who) or await db(make_user)()
    before = await db(state)(story)
    client = await watch(user, story)
    for text, code, client_id in (param.values for param in REFUSED):
        await send_raw(client, text)
        error = await client.receive_type("error")
        assert (error["code"], error.get("client_id")) == (code, client_id), text[:80]
    await client.communicator.send_to(bytes_data=b'{"type": "ping"}')
    assert (await client.receive_type("error"))["code"] == "invalid_frame"
    assert (await client.ping())["seq"] == client.ready_seq
    assert await db(state)(story) == before
    await client.close()


async def test_a_sync_after_10_to_the_30_replays_from_the_head(watch, story):
    reader = await watch(None, story)
    await send_raw(reader, '{"type": "stream.sync", "after": ' + str(10**30) + "}")
    assert (await reader.receive_type("stream.ready"))["seq"] == reader.ready_seq
    await reader.close()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(frame(type="ping", pad="x" * 70_000), id="a ping of 70 KB"),
        pytest.param(frame(type="liveblog.publish", body="€" * 22_000), id="a write of 66 KB"),
        pytest.param("{" * 70_000, id="70 KB of braces"),
    ],
)
async def test_a_frame_over_64_kib_closes_the_socket_with_4009_unprocessed(watch, story, text):
    before = await db(state)(story)
    reader = await watch(None, story)
    await send_raw(reader, text)
    assert await closed_with(reader) == 4009
    assert await db(state)(story) == before


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"type": "ping"}', id="pings"),
        pytest.param('{"type": "stream.sync", "after": 0}', id="syncs from the start"),
        pytest.param('{"type": "liveblog.publish", "body": "x"}', id="writes"),
        pytest.param("{not json", id="not json"),
    ],
)
async def test_a_socket_that_floods_is_closed_with_4029_and_the_others_stay_up(
    watch, story, settings, text
):
    settings.WEBSOCKET_FLOOD_BURST = 20
    settings.WEBSOCKET_FLOOD_RATE = 1
    before = await db(state)(story)
    calm, flooding = await watch(None, story), await watch(None, story)
    for _ in range(60):
        await send_raw(flooding, text)
    assert await closed_with(flooding) == 4029
    assert await db(state)(story) == before
    assert (await calm.ping())["seq"] == calm.ready_seq
    await calm.close()


# On a real daphne --------------------------------------------------------------------------------


# daphne's WebSocket library drops a connection that sends invalid UTF-8 or an
# oversize frame before the application sees it: the client sees 1006.
ON_DAPHNE = [
    pytest.param((b"\xc0\xaf", True), 1006, id="invalid UTF-8 in a text frame"),
    pytest.param((b'{"type": "ping"}', False), "invalid_frame", id="a ping as a binary frame"),
    pytest.param(("x" * 70_000, True), 1006, id="a text frame over 64 KiB"),
]


@pytest.mark.parametrize(("sent", "answer"), ON_DAPHNE)
def test_frames_only_a_real_server_sees_get_their_answer_and_nothing_is_stored(
    daphne_server, story, sent, answer
):
    before = state(story)
    url = f"{daphne_server.ws_url}/ws/liveblog/{story.slug}/"
    with connect(url, origin=daphne_server.origin, open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "stream.ready"
        data, text = sent
        socket.send(data, text=text)
        if isinstance(answer, int):
            assert closed_code(socket) == answer
        else:
            while (frame := json.loads(socket.recv(timeout=10)))["type"] == "presence":
                pass
            assert frame["type"] == "error" and frame["code"] == answer
            socket.send('{"type": "ping"}')
            while (frame := json.loads(socket.recv(timeout=10)))["type"] == "presence":
                pass
            assert frame["type"] == "pong"
    assert state(story) == before
