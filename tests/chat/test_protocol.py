"""The chat socket's frames: what a refused frame is told, and exactly what is sent."""

import json

import pytest

from chat import services
from chat.models import RoomEvent
from chat.protocol import CLIENT, SERVER
from people.services import profile_update
from streams.broadcast import encode
from streams.schemas import ProtocolError

SEND = {"type": "chat.send", "body": "hi", "client_id": "c1"}

# (frame, code, detail, client_id of the error): the protocol's own words, unchanged.
REFUSED = [
    ([1, 2], "invalid_frame", "A frame must be a JSON object.", None),
    ("text", "invalid_frame", "A frame must be a JSON object.", None),
    (None, "invalid_frame", "A frame must be a JSON object.", None),
    ({"body": "no type"}, "invalid_frame", "A frame needs a string 'type'.", None),
    ({"type": 5}, "invalid_frame", "A frame needs a string 'type'.", None),
    ({"type": ["chat.send"]}, "invalid_frame", "A frame needs a string 'type'.", None),
    ({"type": "nope", "client_id": "n"}, "unknown_type", "Unknown frame type 'nope'.", "n"),
    ({"type": "x" * 60}, "unknown_type", f"Unknown frame type {'x' * 40!r}.", None),
    ({"type": "pong", "seq": 1}, "unknown_type", "Unknown frame type 'pong'.", None),
    ({"type": "chat.send", "client_id": "c"}, "invalid_frame", "body is required.", "c"),
    (SEND | {"body": 42}, "invalid_frame", "body must be a string.", "c1"),
    (SEND | {"body": 1.5}, "invalid_frame", "body must be a string.", "c1"),
    (SEND | {"body": ["x"]}, "invalid_frame", "body must be a string.", "c1"),
    (SEND | {"body": None}, "invalid_frame", "body must not be null.", "c1"),
    (SEND | {"client_id": 7}, "invalid_frame", "client_id must be a string.", None),
    (SEND | {"client_id": ""}, "invalid_frame", "client_id must not be empty.", ""),
    (
        SEND | {"client_id": "c" * 65},
        "invalid_frame",
        "client_id is longer than 64 characters.",
        "c" * 65,
    ),
    (SEND | {"body": "x" * 4001}, "too_long", "body is longer than 4000 characters.", "c1"),
    (SEND | {"admin": True}, "invalid_frame", "Unknown field(s): admin.", "c1"),
    (SEND | {"zeta": 1, "alpha": 2}, "invalid_frame", "Unknown field(s): alpha, zeta.", "c1"),
    ({"type": "chat.send", "zeta": 1}, "invalid_frame", "Unknown field(s): zeta.", None),
    (
        {"type": "chat.edit", "id": "1", "body": "x"},
        "invalid_frame",
        "id must be an integer.",
        None,
    ),
    (
        {"type": "chat.edit", "id": True, "body": "x"},
        "invalid_frame",
        "id must be an integer.",
        None,
    ),
    (
        {"type": "chat.edit", "id": 1.0, "body": "x"},
        "invalid_frame",
        "id must be an integer.",
        None,
    ),
    ({"type": "chat.edit", "id": 0, "body": "x"}, "invalid_frame", "id must be at least 1.", None),
    ({"type": "chat.edit", "id": -5, "body": 3}, "invalid_frame", "id must be at least 1.", None),
    ({"type": "chat.edit", "body": "x"}, "invalid_frame", "id is required.", None),
    ({"type": "chat.delete"}, "invalid_frame", "id is required.", None),
    (
        {"type": "chat.delete", "id": 1, "client_id": "d"},
        "invalid_frame",
        "Unknown field(s): client_id.",
        "d",
    ),
    ({"type": "chat.typing", "user": "x"}, "invalid_frame", "Unknown field(s): user.", None),
    ({"type": "stream.sync", "after": -1}, "invalid_frame", "after must be at least 0.", None),
    ({"type": "stream.sync", "after": "1"}, "invalid_frame", "after must be an integer.", None),
    ({"type": "stream.sync", "after": False}, "invalid_frame", "after must be an integer.", None),
    ({"type": "stream.sync"}, "invalid_frame", "after is required.", None),
    ({"type": "ping", "extra": 1}, "invalid_frame", "Unknown field(s): extra.", None),
    (
        {"type": "ping", "z": 1, "client_id": "p"},
        "invalid_frame",
        "Unknown field(s): client_id, z.",
        "p",
    ),
]


@pytest.mark.parametrize(("frame", "code", "detail", "client_id"), REFUSED)
def test_a_refused_frame_is_told_why_in_the_protocols_words(frame, code, detail, client_id):
    with pytest.raises(ProtocolError) as refused:
        CLIENT.parse(frame)
    assert (refused.value.code, refused.value.detail) == (code, detail)
    assert refused.value.client_id == client_id


@pytest.mark.parametrize(
    "frame",
    [
        SEND,
        {"type": "chat.send", "body": "   ", "client_id": "x" * 64},
        {"type": "chat.edit", "id": 10**30, "body": "x"},
        {"type": "chat.delete", "id": 1},
        {"type": "chat.typing"},
        {"type": "stream.sync", "after": 0},
        {"type": "ping"},
    ],
)
def test_a_well_formed_frame_is_accepted(frame):
    CLIENT.parse(frame)


@pytest.mark.django_db
def test_a_message_frame_carries_exactly_its_fields_in_order(make_room, make_user):
    room, ann = make_room(), make_user(username="ann")
    profile_update(user=ann, display_name="Ann Smith")
    message, _ = services.message_create(room=room, author=ann, body="hi *you*", client_id="c1")
    services.message_edit(room=room, message_id=message.pk, by=ann, body="hi")
    message.refresh_from_db()
    created, updated = RoomEvent.objects.filter(room=room).order_by("seq")
    shown = {
        "id": message.pk,
        "author": "ann",
        "author_name": "Ann Smith",
        "author_colour": ann.pk % 12,
        "body": "hi *you*",
        "html": "<p>hi <em>you</em></p>",
        "client_id": "c1",
        "created_at": message.created_at.isoformat(),
        "edited_at": None,
        "deleted": False,
        "reactions": [],
    }
    assert created.frame == encode({"type": "chat.message", "seq": 1, "message": shown})
    edited = shown | {"body": "hi", "html": "<p>hi</p>", "edited_at": message.edited_at.isoformat()}
    assert updated.frame == encode({"type": "chat.message_updated", "seq": 2, "message": edited})


@pytest.mark.django_db
def test_a_deleted_message_keeps_its_fields_and_its_earlier_frames_say_so(make_room, make_user):
    room, ann = make_room(), make_user(username="ann")
    message, _ = services.message_create(room=room, author=ann, body="oops", client_id="c1")
    services.message_delete(room=room, message_id=message.pk, by=ann)
    shown = {
        "id": message.pk,
        "author": "ann",
        "author_name": "ann",
        "author_colour": ann.pk % 12,
        "body": "",
        "html": "",
        "client_id": "c1",
        "created_at": message.created_at.isoformat(),
        "edited_at": None,
        "deleted": True,
        "reactions": [],
    }
    created, deleted = RoomEvent.objects.filter(room=room).order_by("seq")
    assert created.frame == encode({"type": "chat.message", "seq": 1, "message": shown})
    assert deleted.frame == encode({"type": "chat.message_deleted", "seq": 2, "message": shown})
    for event in (created, deleted):
        SERVER.check(json.loads(event.frame))
