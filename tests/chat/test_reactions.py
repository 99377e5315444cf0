"""Reactions on messages, on the real ASGI application: toggled, counted, replayed, refused.

Marked `stack`: these run on the embedded default and again on PostgreSQL + Redis.
"""

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.core.exceptions import PermissionDenied

from chat import services
from chat.models import Reaction, Room
from chat.protocol import SERVER, Message
from chat.selectors import message_list, sidebar
from project.asgi import application
from streams import multiplex
from tests.support.harness import websocket_headers
from tests.support.orm import db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

THUMBS, PARTY = "👍", "🎉"


def react(message_id: int, emoji: str, client_id: str, **also) -> dict:
    return {"type": "chat.react", "id": message_id, "emoji": emoji, "client_id": client_id, **also}


def post(room, author, body: str = "hello"):
    return services.message_create(room=room, author=author, body=body, client_id=body)[0]


def toggle(room, user, message, emoji: str, client_id: str) -> str:
    frame, _made = services.reaction_toggle(
        room=room, user=user, message_id=message.pk, emoji=emoji, client_id=client_id
    )
    return frame


async def test_a_reaction_toggles_on_and_off_and_everyone_sees_the_counts(
    connect, make_user, make_room
):
    room = await db(make_room)()
    ann, bob = await db(make_user)(username="ann"), await db(make_user)(username="bob")
    message = await db(post)(room, bob)
    a, b = await connect(ann, room), await connect(bob, room)

    steps = [
        (a, THUMBS, [{"emoji": THUMBS, "count": 1, "users": ["ann"]}]),
        (b, THUMBS, [{"emoji": THUMBS, "count": 2, "users": ["ann", "bob"]}]),
        (
            b,
            PARTY,
            [
                {"emoji": THUMBS, "count": 2, "users": ["ann", "bob"]},
                {"emoji": PARTY, "count": 1, "users": ["bob"]},
            ],
        ),
        # Ann takes hers back.
        (
            a,
            THUMBS,
            [
                {"emoji": THUMBS, "count": 1, "users": ["bob"]},
                {"emoji": PARTY, "count": 1, "users": ["bob"]},
            ],
        ),
    ]
    for n, (sender, emoji, reactions) in enumerate(steps, start=2):
        await sender.send(react(message.pk, emoji, f"c{n}"))
        for client in (a, b):
            (frame,) = await client.events(1)
            assert frame == {
                "type": "chat.reactions", "seq": n, "id": message.pk, "reactions": reactions
            }  # fmt: skip
    assert await db(Reaction.objects.count)() == 2
    await a.close()
    await b.close()


async def test_a_resume_replays_the_reactions_it_missed_and_history_shows_them(
    connect, make_user, make_room
):
    room = await db(make_room)()
    ann, bob = await db(make_user)(username="ann"), await db(make_user)(username="bob")
    message = await db(post)(room, bob)
    a = await connect(ann, room)
    seen = a.ready_seq
    await a.close()

    await db(toggle)(room, ann, message, THUMBS, "a1")
    await db(toggle)(room, bob, message, THUMBS, "b1")
    await db(services.message_edit)(room=room, message_id=message.pk, by=bob, body="edited")

    a = await connect(ann, room, after=seen)
    reacted, again, edited = [await a.receive() for _ in range(3)]
    both = [{"emoji": THUMBS, "count": 2, "users": ["ann", "bob"]}]
    assert (reacted["type"], reacted["seq"], reacted["id"]) == ("chat.reactions", 2, message.pk)
    assert reacted["reactions"] == [{"emoji": THUMBS, "count": 1, "users": ["ann"]}]
    assert (again["seq"], again["reactions"]) == (3, both)
    # A message frame shows the reactions as they were at its seq.
    assert (edited["type"], edited["message"]["reactions"]) == ("chat.message_updated", both)
    assert (await a.receive_type("stream.ready"))["seq"] == 4
    await a.close()

    (shown,) = await db(lambda: [Message.of(m).model_dump() for m in message_list(room=room)])()
    assert shown["reactions"] == both


async def test_a_retried_client_id_toggles_once(connect, make_user, make_room):
    room = await db(make_room)()
    ann, bob = await db(make_user)(username="ann"), await db(make_user)(username="bob")
    message = await db(post)(room, bob)
    a, b = await connect(ann, room), await connect(bob, room)
    frame = react(message.pk, THUMBS, "retry-me")

    await a.send(frame)
    (first,) = await a.events(1)
    await a.send(frame)
    (again,) = await a.events(1)

    assert again == first
    assert first["reactions"] == [{"emoji": THUMBS, "count": 1, "users": ["ann"]}]
    assert await db(Reaction.objects.count)() == 1
    (seen_by_bob,) = await b.events(1)
    assert seen_by_bob == first
    # The retry told bob nothing: the next change is the next event he hears.
    await b.send(react(message.pk, PARTY, "b1"))
    (after,) = await b.events(1)
    assert after["seq"] == first["seq"] + 1
    await a.close()
    await b.close()


async def test_bad_reactions_get_typed_errors_with_their_client_id_and_the_socket_stays_up(
    connect, make_user, make_room, settings
):
    room = await db(make_room)()
    ann, bob = await db(make_user)(), await db(make_user)()
    message, gone = await db(post)(room, bob, "here"), await db(post)(room, bob, "gone")
    await db(services.message_delete)(room=room, message_id=gone.pk, by=bob)
    secret = await db(services.room_create)(name="Secret", created_by=bob, kind=Room.Kind.PRIVATE)
    hidden = await db(post)(secret, bob, "hidden")
    settings.CHAT_REACTIONS = [PARTY]
    a = await connect(ann, room)
    cases = [
        (react(message.pk, THUMBS, "c1"), "invalid_frame"),  # not in the palette
        (react(message.pk, "x" * 17, "c2"), "invalid_frame"),
        (react(message.pk, "", "c3"), "invalid_frame"),
        (react(999_999, PARTY, "c4"), "not_found"),
        (react(gone.pk, PARTY, "c5"), "not_found"),
        # A message of another room, one ann may not read, is not in this one.
        (react(hidden.pk, PARTY, "c6"), "not_found"),
        ({**react(message.pk, PARTY, "c7"), "id": "1"}, "invalid_frame"),
        ({**react(message.pk, PARTY, "c8"), "extra": 1}, "invalid_frame"),
    ]
    for frame, code in cases:
        await a.send(frame)
        error = await a.receive_type("error")
        assert (error["code"], error["client_id"]) == (code, frame["client_id"]), frame
        assert (await a.ping())["type"] == "pong"
    await a.send({"type": "chat.react", "id": message.pk, "emoji": PARTY})
    assert (await a.receive_type("error"))["code"] == "invalid_frame"
    assert await db(Reaction.objects.count)() == 0
    # The palette is read when used: its emoji goes through.
    await a.send(react(message.pk, PARTY, "ok"))
    (frame,) = await a.events(1)
    assert frame["reactions"] == [{"emoji": PARTY, "count": 1, "users": [ann.username]}]
    await a.close()


def test_someone_who_cannot_read_a_room_cannot_react_in_it(make_user):
    ann, bob = make_user(), make_user()
    secret = services.room_create(name="Secret", created_by=bob, kind=Room.Kind.PRIVATE)
    message = post(secret, bob)

    with pytest.raises(PermissionDenied):
        toggle(secret, ann, message, THUMBS, "a1")

    assert not Reaction.objects.exists()


def test_reactions_count_as_nothing_unread_and_mention_nobody(make_room, make_user, personal):
    room = make_room("Lobby")
    ann, bob = make_user(username="ann"), make_user(username="bob")
    services.room_join(room=room, user=bob)
    mentioning = post(room, ann, "hi @bob")
    services.read_mark(room=room, user=bob, seq=room.last_seq)
    own = post(room, bob, "mine")

    toggle(room, ann, mentioning, THUMBS, "a1")
    toggle(room, ann, own, THUMBS, "a2")
    toggle(room, ann, own, PARTY, "a3")

    (entry,) = sidebar(user=bob)
    assert (entry.head, entry.read) == (5, 1)
    assert (entry.unread, entry.unread_ids, entry.mentions) == (0, [], 0)
    assert len(personal(bob, "user.mentioned")) == 1


async def test_reactions_are_counted_with_edits_and_deletes(
    connect, make_user, make_room, settings
):
    settings.CHAT_SEND_WINDOW = 3600
    settings.CHAT_CHANGE_LIMIT = 2
    room, ann = await db(make_room)(), await db(make_user)()
    message = await db(post)(room, ann)
    a = await connect(ann, room)
    await a.send({"type": "chat.edit", "id": message.pk, "body": "changed"})
    await a.send(react(message.pk, THUMBS, "a1"))
    await a.events(2)
    await a.send(react(message.pk, PARTY, "a2"))
    error = await a.receive_type("error")
    assert (error["code"], error["client_id"]) == ("rate_limited", "a2")
    await a.close()


async def test_a_message_takes_a_bounded_number_of_reactions_and_each_can_be_taken_back(
    connect, make_user, make_room, settings
):
    settings.CHAT_REACTIONS_PER_MESSAGE = 2
    room, ann, bob = await db(make_room)(), await db(make_user)(), await db(make_user)()
    message = await db(post)(room, ann)
    a = await connect(ann, room)
    await a.send(react(message.pk, THUMBS, "a1"))
    await a.send(react(message.pk, PARTY, "a2"))
    await a.events(2)
    b = await connect(bob, room)
    await b.send(react(message.pk, THUMBS, "b1"))
    error = await b.receive_type("error")
    assert (error["code"], error["client_id"]) == ("invalid_frame", "b1")
    await a.send(react(message.pk, THUMBS, "a3"))
    (taken_back,) = await a.events(1)
    assert [reaction["emoji"] for reaction in taken_back["reactions"]] == [PARTY]
    await a.close()
    await b.close()


async def test_deleting_a_message_takes_its_reactions_out_of_every_replay(
    connect, make_user, make_room
):
    room, ann, bob = await db(make_room)(), await db(make_user)(), await db(make_user)()
    message = await db(post)(room, bob)
    await db(toggle)(room, ann, message, THUMBS, "a1")
    await db(services.message_delete)(room=room, message_id=message.pk, by=bob)

    a = await connect(ann, room, after=0)
    frames = await a.events(3)
    assert [frame["type"] for frame in frames] == [
        "chat.message", "chat.reactions", "chat.message_deleted"
    ]  # fmt: skip
    assert frames[0]["message"]["reactions"] == []
    assert frames[1]["reactions"] == []
    assert frames[2]["message"]["reactions"] == []
    assert not await db(Reaction.objects.exists)()
    await a.close()


def test_a_page_of_history_reads_its_reactions_in_one_query(
    make_room, make_user, django_assert_num_queries
):
    room, ann, bob = make_room(), make_user(), make_user()
    messages = [post(room, ann, f"m{n}") for n in range(5)]
    for message in messages:
        toggle(room, ann, message, THUMBS, f"a{message.pk}")
        toggle(room, bob, message, PARTY, f"b{message.pk}")

    with django_assert_num_queries(2):
        shown = [Message.of(message) for message in message_list(room=room)]

    assert {len(message.reactions) for message in shown} == {2}


# The multiplexed socket ------------------------------------------------------------


def mux_check(frame: dict) -> None:
    """Raise unless `frame` is one the multiplexed socket may send about a chat room."""
    if frame.get("stream", "user") == "user" or "stream" not in frame:
        if frame["type"] in multiplex.SERVER.frames and "seq" not in frame:
            multiplex.SERVER.check(frame)
        return
    SERVER.check({key: value for key, value in frame.items() if key != "stream"})


async def mux_next(communicator: WebsocketCommunicator, frame_type: str, stream: str) -> dict:
    while True:
        frame = json.loads(await communicator.receive_from(10))
        mux_check(frame)
        if frame["type"] == frame_type and frame.get("stream") == stream:
            return frame


async def test_reactions_work_the_same_on_the_multiplexed_socket(
    login_cookie, make_user, make_room
):
    room = await db(make_room)("Lobby")
    ann, bob = await db(make_user)(username="ann"), await db(make_user)(username="bob")
    message = await db(post)(room, bob)
    cookie = await db(login_cookie)(ann)
    headers = websocket_headers(origin="http://testserver", cookie=cookie)
    mux = WebsocketCommunicator(application, "/ws/", headers=headers)
    assert (await mux.connect(timeout=5))[0]
    await mux_next(mux, "stream.ready", "user")
    await mux.send_json_to({"type": "stream.join", "stream": "chat:lobby"})
    await mux_next(mux, "stream.ready", "chat:lobby")

    await mux.send_json_to(react(message.pk, THUMBS, "m1", stream="chat:lobby"))
    frame = await mux_next(mux, "chat.reactions", "chat:lobby")
    assert (frame["seq"], frame["id"]) == (2, message.pk)
    assert frame["reactions"] == [{"emoji": THUMBS, "count": 1, "users": ["ann"]}]
    await mux.send_json_to(react(message.pk, "nope", "m2", stream="chat:lobby"))
    error = await mux_next(mux, "error", "chat:lobby")
    assert (error["code"], error["client_id"]) == ("invalid_frame", "m2")
    await mux.disconnect()
