"""The chat socket on the real ASGI application (routing, origin check and auth included).

Marked `stack`: these run on the embedded default and again on PostgreSQL + Redis.
"""

import json
import re
from urllib.parse import quote

import pytest

from chat import services
from chat.models import Message
from tests.support.orm import db
from tests.support.sockets import PRESENCE

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]


async def test_unknown_rooms_are_refused(connect, make_user):
    assert await connect(await db(make_user)(), "no-such-room", expect=False) is None


async def test_two_people_get_every_message_once_in_order(
    connect, make_user, make_room, no_send_limit
):
    room, elsewhere = await db(make_room)(), await db(make_room)()
    ann, bob, cat = await db(make_user)(), await db(make_user)(), await db(make_user)()
    a, b = await connect(ann, room), await connect(bob, room)
    c = await connect(cat, elsewhere)
    for n in range(200):
        await a.send({"type": "chat.send", "body": f"a{n}", "client_id": f"a{n}"})
        await b.send({"type": "chat.send", "body": f"b{n}", "client_id": f"b{n}"})
    for client in (a, b):
        frames = await client.events(400)
        assert [frame["seq"] for frame in frames] == list(range(1, 401))
        bodies = [frame["message"]["body"] for frame in frames]
        assert sorted(bodies) == sorted(
            [f"a{n}" for n in range(200)] + [f"b{n}" for n in range(200)]
        )
        # Each sender's own messages stay in the order they were sent.
        assert [body for body in bodies if body[0] == "a"] == [f"a{n}" for n in range(200)]
    # Nothing came twice: the next message sent is the next event each hears.
    await a.send({"type": "chat.send", "body": "last", "client_id": "last"})
    for client in (a, b):
        (frame,) = await client.events(1)
        assert (frame["seq"], frame["message"]["body"]) == (401, "last")
    # The other room heard nothing of this one (its presence frames aside). The hub
    # hands each broadcast to all its sockets before the next, and a and b have had
    # the last: the other room's own first message, sent now, is the first it hears.
    await c.send({"type": "chat.send", "body": "elsewhere", "client_id": "c0"})
    while (frame := await c.receive())["type"] in PRESENCE:
        pass
    assert frame["type"] == "chat.message"
    assert (frame["seq"], frame["message"]["body"]) == (1, "elsewhere")
    for client in (a, b, c):
        await client.close()


async def test_resume_replays_exactly_what_was_missed(connect, make_user, make_room):
    room = await db(make_room)()
    ann, bob = await db(make_user)(), await db(make_user)()
    a = await connect(ann, room)
    await db(services.message_create)(room=room, author=bob, body="before", client_id="b0")
    (seen,) = await a.events(1)
    await a.close()

    ids = []
    for n in range(20):
        message, _ = await db(services.message_create)(
            room=room, author=bob, body=f"m{n}", client_id=f"m{n}"
        )
        ids.append(message.pk)
    for message_id in ids[:2]:
        await db(services.message_edit)(room=room, message_id=message_id, by=bob, body="edited")
    await db(services.message_delete)(room=room, message_id=ids[5], by=bob)

    a = await connect(ann, room, after=seen["seq"])
    frames = [await a.receive() for _ in range(23)]
    assert [frame["seq"] for frame in frames] == list(range(seen["seq"] + 1, seen["seq"] + 24))
    types = [frame["type"] for frame in frames]
    assert types == ["chat.message"] * 20 + ["chat.message_updated"] * 2 + ["chat.message_deleted"]
    assert [frame["message"]["id"] for frame in frames[20:]] == [ids[0], ids[1], ids[5]]
    assert frames[5]["message"]["deleted"] and frames[5]["message"]["body"] == ""
    ready = await a.receive_type("stream.ready")
    assert ready["seq"] == frames[-1]["seq"]
    await a.close()


# region: retried-client-id-test
async def test_a_retried_client_id_is_one_message(connect, make_user, make_room):
    room, ann, bob = await db(make_room)(), await db(make_user)(), await db(make_user)()
    a, b = await connect(ann, room), await connect(bob, room)
    frame = {"type": "chat.send", "body": "once", "client_id": "retry-me"}
    await a.send(frame)
    (first,) = await a.events(1)
    await a.send(frame)
    (again,) = await a.events(1)
    assert again == first
    (seen_by_bob,) = await b.events(1)
    assert seen_by_bob == first
    assert await db(Message.objects.count)() == 1
    # The retry told bob nothing: ann's next message is the next event he hears.
    await a.send({"type": "chat.send", "body": "then this", "client_id": "next"})
    (after,) = await b.events(1)
    assert (after["seq"], after["message"]["body"]) == (2, "then this")
    await a.close()
    await b.close()
    # endregion


async def test_the_sender_and_its_other_tabs_see_edits_and_deletes(connect, make_user, make_room):
    room, ann = await db(make_room)(), await db(make_user)()
    tab1, tab2 = await connect(ann, room), await connect(ann, room)
    await tab1.send({"type": "chat.send", "body": "hello", "client_id": "h"})
    (created,) = await tab2.events(1)
    message_id = created["message"]["id"]
    await tab1.send({"type": "chat.edit", "id": message_id, "body": "hello *all*"})
    await tab1.send({"type": "chat.delete", "id": message_id})
    edited, deleted = await tab2.events(2)
    assert edited["message"]["html"] == "<p>hello <em>all</em></p>"
    assert edited["message"]["edited_at"] is not None
    assert deleted["message"]["deleted"] is True
    await tab1.close()
    await tab2.close()


ERROR_CASES = [
    ("{not json", "invalid_json"),
    ("[1, 2]", "invalid_frame"),
    ('"text"', "invalid_frame"),
    ('{"body": "no type"}', "invalid_frame"),
    ('{"type": "chat.shout", "body": "x"}', "unknown_type"),
    ('{"type": "chat.send", "client_id": "x"}', "invalid_frame"),
    ('{"type": "chat.send", "body": 42, "client_id": "x"}', "invalid_frame"),
    ('{"type": "chat.send", "body": "x", "client_id": 7}', "invalid_frame"),
    ('{"type": "chat.send", "body": "x", "client_id": "x", "admin": true}', "invalid_frame"),
    ('{"type": "chat.send", "body": "   ", "client_id": "x"}', "invalid_frame"),
    (json.dumps({"type": "chat.send", "body": "x" * 4001, "client_id": "x"}), "too_long"),
    ('{"type": "chat.edit", "id": "1", "body": "x"}', "invalid_frame"),
    ('{"type": "chat.edit", "id": true, "body": "x"}', "invalid_frame"),
    ('{"type": "chat.delete", "id": 999999}', "not_found"),
    ('{"type": "stream.sync", "after": -1}', "invalid_frame"),
    # Nesting the JSON parser itself cannot follow, and nesting no frame has.
    ("[" * 10_000 + "]" * 10_000, "invalid_frame"),
    (
        '{"type": "chat.send", "body": "x", "client_id": "x", "a": ' + "[" * 50 + "]" * 50 + "}",
        "invalid_frame",
    ),  # fmt: skip
    # Escapes JSON allows and no database stores.
    ('{"type": "chat.send", "body": "a\\u0000b", "client_id": "nul"}', "invalid_frame"),
    ('{"type": "chat.send", "body": "a\\ud800b", "client_id": "lone"}', "invalid_frame"),
    ('{"type": "chat.edit", "id": 1, "body": "\\udfff"}', "invalid_frame"),
]


async def test_every_bad_frame_gets_its_error_and_the_socket_stays_usable(
    connect, make_user, make_room
):
    room, ann = await db(make_room)(), await db(make_user)()
    a = await connect(ann, room)
    for text, code in ERROR_CASES:
        await a.send_text(text)
        error = await a.receive_type("error")
        assert error["code"] == code, text
        assert error["detail"]
        assert (await a.ping())["type"] == "pong"
    await a.communicator.send_to(bytes_data=b"\x00\x01")
    assert (await a.receive_type("error"))["code"] == "invalid_frame"
    assert await db(Message.objects.count)() == 0
    # Still a working socket.
    await a.send({"type": "chat.send", "body": "still here", "client_id": "ok"})
    (frame,) = await a.events(1)
    assert frame["message"]["body"] == "still here"
    await a.close()


async def test_errors_about_a_send_carry_its_client_id(connect, make_user, make_room):
    room, ann = await db(make_room)(), await db(make_user)()
    a = await connect(ann, room)
    await a.send({"type": "chat.send", "body": "x" * 4001, "client_id": "long-one"})
    error = await a.receive_type("error")
    assert (error["code"], error["client_id"]) == ("too_long", "long-one")
    await a.send({"type": "chat.send", "body": "a\u0000b", "client_id": "nul-one"})
    error = await a.receive_type("error")
    assert (error["code"], error["client_id"]) == ("invalid_frame", "nul-one")
    await a.close()


async def test_a_send_the_server_failed_on_is_answered_with_its_client_id(
    connect, make_user, make_room, monkeypatch
):
    room, ann = await db(make_room)(), await db(make_user)()
    a = await connect(ann, room)

    def fail(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "message_send", fail)
    await a.send({"type": "chat.send", "body": "hello", "client_id": "retry-me"})
    error = await a.receive_type("error")
    assert (error["code"], error["client_id"]) == ("server_error", "retry-me")
    monkeypatch.undo()
    # The retry the error invites goes through.
    await a.send({"type": "chat.send", "body": "hello", "client_id": "retry-me"})
    (frame,) = await a.events(1)
    assert frame["message"]["client_id"] == "retry-me"
    await a.close()


async def test_an_after_beyond_the_head_is_not_trusted(connect, make_user, make_room):
    room, ann = await db(make_room)(), await db(make_user)()
    await db(services.message_create)(room=room, author=ann, body="m1", client_id="m1")
    far = 10**30
    a = await connect(ann, room, after=far)
    assert (await a.receive_type("stream.ready"))["seq"] == 1
    await a.send({"type": "stream.sync", "after": far})
    assert (await a.receive_type("stream.ready"))["seq"] == 1
    # Live messages still reach the socket.
    await db(services.message_create)(room=room, author=ann, body="m2", client_id="m2")
    (frame,) = await a.events(1)
    assert frame["seq"] == 2
    await a.close()


async def test_editing_or_deleting_someone_elses_message_is_not_allowed(
    connect, make_user, make_room
):
    room, ann, bob = await db(make_room)(), await db(make_user)(), await db(make_user)()
    message, _ = await db(services.message_create)(
        room=room, author=ann, body="mine", client_id="m"
    )
    b = await connect(bob, room)
    await b.send({"type": "chat.edit", "id": message.pk, "body": "yours"})
    assert (await b.receive_type("error"))["code"] == "not_allowed"
    await b.send({"type": "chat.delete", "id": message.pk})
    assert (await b.receive_type("error"))["code"] == "not_allowed"
    await db(message.refresh_from_db)()
    assert message.body == "mine" and not message.is_deleted
    await b.close()


async def test_the_send_limit_is_shared_by_a_users_tabs(connect, make_user, make_room, settings):
    # The limit counts in fixed windows of the clock: in an hour-long one, a burst
    # that takes well under a second all but never spans two.
    settings.CHAT_SEND_WINDOW = 3600
    room, ann = await db(make_room)(), await db(make_user)()
    tab1, tab2 = await connect(ann, room), await connect(ann, room)
    for n in range(settings.CHAT_SEND_LIMIT):
        tab = tab1 if n % 2 else tab2
        await tab.send({"type": "chat.send", "body": f"m{n}", "client_id": f"m{n}"})
    await tab1.events(settings.CHAT_SEND_LIMIT)
    await tab2.events(settings.CHAT_SEND_LIMIT)
    await tab2.send({"type": "chat.send", "body": "one too many", "client_id": "extra"})
    error = await tab2.receive_type("error")
    assert (error["code"], error["client_id"]) == ("rate_limited", "extra")
    assert await db(Message.objects.count)() == settings.CHAT_SEND_LIMIT
    await tab1.close()
    await tab2.close()


async def test_an_oversized_frame_closes_the_socket_unprocessed(connect, make_user, make_room):
    room, ann = await db(make_room)(), await db(make_user)()
    a = await connect(ann, room)
    body = "x" * (70 * 1024)
    await a.send({"type": "chat.send", "body": body, "client_id": "big"})
    while (output := await a.communicator.receive_output(5))["type"] != "websocket.close":
        assert json.loads(output["text"])["type"] in PRESENCE
    assert output["code"] == 4009
    assert await db(Message.objects.count)() == 0


async def test_flooding_closes_the_socket(connect, make_user, make_room):
    room, ann = await db(make_room)(), await db(make_user)()
    a = await connect(ann, room)
    for _ in range(200):
        await a.send_text("[]")
    while (output := await a.communicator.receive_output(5))["type"] != "websocket.close":
        assert json.loads(output["text"])["type"] in PRESENCE | {"error"}
    assert output["code"] == 4029


async def test_presence_counts_people_not_tabs(connect, make_user, make_room):
    room = await db(make_room)()
    ann, bob, cat = [await db(make_user)(username=name) for name in ("ann", "bob", "cat")]
    a1 = await connect(ann, room)
    a2 = await connect(ann, room)
    b = await connect(bob, room)
    # bob is told the whole set once, each socket by its ref: ann's two tabs, and his own.
    state = await b.receive_type("presence.state")
    assert state["count"] == len({entry["username"] for entry in state["refs"]})
    await b.here(["ann", "bob"])
    assert sorted(entry["username"] for entry in b.presence.refs.values()) == ["ann", "ann", "bob"]
    (mine,) = [entry for entry in b.presence.refs.values() if entry["username"] == "bob"]
    assert mine == {"ref": mine["ref"], "username": "bob", "name": "bob", "colour": bob.pk % 12}
    assert re.fullmatch("[0-9a-f]{16}", mine["ref"])
    await a1.here(["ann", "bob"])
    # One of ann's tabs closes and she is still there, on every tab.
    await a2.close()
    c = await connect(cat, room)
    for client in (a1, b, c):
        await client.here(["ann", "bob", "cat"])
    assert sorted(entry["username"] for entry in b.presence.refs.values()) == ["ann", "bob", "cat"]
    # Her last tab closes, then cat leaves: every tab left converges on bob alone.
    await a1.close()
    await c.close()
    await b.here(["bob"])
    assert list(b.presence.refs) == [mine["ref"]]
    await b.close()


async def test_typing_is_broadcast_and_throttled(connect, make_user, make_room):
    room = await db(make_room)()
    ann, bob = await db(make_user)(username="ann"), await db(make_user)(username="bob")
    a, b = await connect(ann, room), await connect(bob, room)
    await a.send({"type": "chat.typing"})
    await a.send({"type": "chat.typing"})
    # Sent after both, ann's message is broadcast after whatever they were.
    await a.send({"type": "chat.send", "body": "done typing", "client_id": "t"})
    assert (await b.receive_type("chat.typing"))["user"] == "ann"
    assert (await b.receive_type("chat.typing", "chat.message"))["type"] == "chat.message"
    await a.close()
    await b.close()


async def test_typing_over_the_limit_is_dropped_silently_in_every_room(
    connect, make_user, make_room
):
    room, other = await db(make_room)(), await db(make_room)()
    ann, bob = await db(make_user)(username="ann"), await db(make_user)(username="bob")
    a, a_other = await connect(ann, room), await connect(ann, other)
    b, b_other = await connect(bob, room), await connect(bob, other)
    await a.send({"type": "chat.typing"})
    assert (await b.receive_type("chat.typing"))["user"] == "ann"
    # Within CHAT_TYPING_EVERY, typing in another room is over the same limit:
    # no frame for that room, and no error for the sender either.
    await a_other.send({"type": "chat.typing"})
    assert (await a_other.ping())["type"] == "pong"
    await a_other.send({"type": "chat.send", "body": "hello", "client_id": "h"})
    assert (await b_other.receive_type("chat.typing", "chat.message"))["type"] == "chat.message"
    for client in (a, a_other, b, b_other):
        await client.close()


async def test_a_gap_is_filled_by_stream_sync(connect, make_user, make_room):
    room, ann = await db(make_room)(), await db(make_user)()
    a = await connect(ann, room)
    for n in range(3):
        await db(services.message_create)(room=room, author=ann, body=f"m{n}", client_id=f"m{n}")
    await a.events(3)
    await a.send({"type": "stream.sync", "after": 1})
    frames = await a.events(2)
    assert [frame["seq"] for frame in frames] == [2, 3]
    assert (await a.receive_type("stream.ready"))["seq"] == 3
    await a.close()


# region: rolled-back-write-test
async def test_a_rolled_back_write_broadcasts_nothing(connect, make_user, make_room):
    from django.db import transaction

    room, ann = await db(make_room)(), await db(make_user)()
    a = await connect(ann, room)

    def send_then_fail():
        with transaction.atomic():
            services.message_create(room=room, author=ann, body="never", client_id="x")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await db(send_then_fail)()
    await db(services.message_create)(room=room, author=ann, body="kept", client_id="y")
    (frame,) = await a.events(1)
    assert (frame["seq"], frame["message"]["body"]) == (1, "kept")
    await a.close()


# endregion


async def test_edits_and_deletes_share_a_per_user_limit(connect, make_user, make_room, settings):
    settings.CHAT_CHANGE_LIMIT = 3
    settings.CHAT_SEND_WINDOW = 3600  # one window for the whole test
    room, ann = await db(make_room)(), await db(make_user)()
    message, _ = await db(services.message_create)(
        room=room, author=ann, body="first", client_id="m1"
    )
    a = await connect(ann, room)
    for n in range(2):
        await a.send({"type": "chat.edit", "id": message.pk, "body": f"edit {n}"})
    await a.send({"type": "chat.delete", "id": message.pk})
    assert [frame["type"] for frame in await a.events(3)] == [
        "chat.message_updated",
        "chat.message_updated",
        "chat.message_deleted",
    ]
    other, _ = await db(services.message_create)(
        room=room, author=ann, body="second", client_id="m2"
    )
    await a.events(1)
    await a.send({"type": "chat.edit", "id": other.pk, "body": "one too many"})
    assert (await a.receive_type("error"))["code"] == "rate_limited"
    await db(other.refresh_from_db)()
    assert other.body == "second"
    await a.close()


@pytest.mark.parametrize("name", ["Привет мир", "中文聊天室"])
async def test_people_chat_in_a_room_named_in_cyrillic_or_chinese(connect, make_user, name):
    room = await db(services.room_create)(name=name, created_by=None)
    ann, bob = await db(make_user)(), await db(make_user)()
    # As a browser sends it: the path's letters percent-encoded.
    path = quote(room.slug)
    a, b = await connect(ann, path), await connect(bob, path)

    await a.send({"type": "chat.send", "body": "здравствуйте 你好", "client_id": "c1"})

    for client in (a, b):
        (frame,) = await client.events(1)
        assert frame["message"]["body"] == "здравствуйте 你好"
        await client.close()
