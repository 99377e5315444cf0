"""The symptoms the tutorial's "If it didn't work" boxes quote, each reproduced by making the
mistake, and checked to be the message the chapter quotes.

One section per chapter; each test is named after its chapter.
"""

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from chat import services
from project.asgi import application
from streams.hub import get_hub
from tests.support.harness import websocket_headers
from tests.support.orm import db

pytestmark = pytest.mark.django_db(transaction=True)

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


async def test_chapter_6_a_sync_whose_seq_is_a_string_is_refused_as_not_an_integer(user):
    room = await db(services.room_create)(name="Strings", created_by=user)

    answer = await sent_and_answered(user, room, {"type": "stream.sync", "after": "3"})

    assert answer == (
        '{"type": "error", "code": "invalid_frame", "detail": "after must be an integer."}'
    )


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


async def test_chapter_7_a_misspelt_type_is_an_unknown_type_with_its_client_id(user):
    room = await db(services.room_create)(name="Typos", created_by=user)

    frame = {"type": "chat.sned", "body": "hi", "client_id": "c1"}
    answer = await sent_and_answered(user, room, frame)

    assert answer == (
        '{"type": "error", "code": "unknown_type", "detail": "Unknown frame type'
        ' \'chat.sned\'.", "client_id": "c1"}'
    )


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
