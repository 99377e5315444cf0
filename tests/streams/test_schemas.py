"""The frame models: closed, strict, one per frame type, and the shapes the engine sends."""

import json
from typing import get_args

import pytest
from django.utils import timezone
from pydantic import ValidationError

from chat import protocol as chat
from liveblog import protocol as liveblog
from people.services import profile_update
from streams.models import Presence
from streams.presence import presence_count, presence_frames, presence_ref
from streams.schemas import ERROR_CODES, Error, ErrorCode, Pong, Protocol, ProtocolError

PROTOCOLS = {
    "chat client": chat.CLIENT,
    "chat server": chat.SERVER,
    "liveblog client": liveblog.CLIENT,
    "liveblog readers": liveblog.READER_SERVER,
    "liveblog editors": liveblog.EDITOR_SERVER,
}


@pytest.mark.parametrize("side", PROTOCOLS)
def test_every_frame_is_closed_strict_and_named_by_its_type(side):
    for frame_type, model in PROTOCOLS[side].frames.items():
        assert model.model_config["extra"] == "forbid" and model.model_config["strict"]
        assert get_args(model.model_fields["type"].annotation) == (frame_type,)


def test_a_built_frame_refuses_a_value_of_the_wrong_type():
    with pytest.raises(ValidationError):
        Pong(seq=True)
    with pytest.raises(ValidationError):
        chat.UserTyping(user=7)


def test_an_error_frame_carries_a_client_id_only_when_there_is_one():
    assert Error(code="not_found", detail="No.").model_dump() == {
        "type": "error",
        "code": "not_found",
        "detail": "No.",
    }
    with_id = Error(code="too_long", detail="Long.", client_id="c1").model_dump()
    assert list(with_id) == ["type", "code", "detail", "client_id"]


def test_every_error_code_is_documented():
    assert list(ERROR_CODES) == list(get_args(ErrorCode))


def test_a_union_of_two_frames_of_one_type_is_refused():
    with pytest.raises(TypeError):
        Protocol(chat.Typing, chat.UserTyping)


def test_an_objects_unknown_keys_are_named_before_what_is_wrong_inside_it():
    frame = {"type": "chat.typing", "user": ["ann"]}
    with pytest.raises(ProtocolError, match=r"^user must be a string\.$"):
        chat.SERVER.check(frame)
    message = {"type": "chat.message", "seq": 1, "message": {"id": "x", "zz": 1, "aa": 2}}
    with pytest.raises(ProtocolError, match=r"^Unknown field\(s\): message\.aa, message\.zz\.$"):
        chat.SERVER.check(message)


@pytest.mark.django_db
def test_presence_is_sent_per_socket_with_names_or_as_a_count_only(make_user):
    now = timezone.now()
    bob = make_user(username="bob")
    for socket_id, user in [("a", bob), ("b", None), ("c", None)]:
        Presence.objects.create(stream="s", socket_id=socket_id, user=user, last_seen=now)
    person = f'"username": "bob", "name": "bob", "colour": {bob.pk % 12}'
    states, diffs = presence_frames(
        states=["s"], diffs={"s": ({presence_ref("d"): bob.pk}, {presence_ref("b")})}
    )
    assert json.dumps(states["s"]) == (
        f'{{"type": "presence.state", "refs": [{{"ref": "{presence_ref("a")}", {person}}}],'
        ' "count": 1}'
    )
    assert json.dumps(diffs["s"]) == (
        f'{{"type": "presence.diff", "joins": [{{"ref": "{presence_ref("d")}", {person}}}],'
        f' "leaves": [{{"ref": "{presence_ref("b")}"}}]}}'
    )
    assert json.dumps(presence_count(stream="s")) == '{"type": "presence", "count": 3}'
    chat.SERVER.check(states["s"])
    chat.SERVER.check(diffs["s"])
    liveblog.READER_SERVER.check(presence_count(stream="s"))


def test_a_sockets_ref_is_short_hex_and_never_its_id():
    ref = presence_ref("0123456789abcdef0123456789abcdef")
    assert len(ref) == 16 and int(ref, 16) >= 0
    assert ref not in "0123456789abcdef0123456789abcdef"
    assert presence_ref("0123456789abcdef0123456789abcdef") == ref


@pytest.mark.django_db
def test_presence_lists_sockets_by_display_name_with_their_colour(make_user):
    now = timezone.now()
    zoe, ann = make_user(username="zoe"), make_user(username="ann")
    profile_update(user=zoe, display_name="Aaron Zoe")
    for socket_id, user in [("a", zoe), ("b", ann), ("c", zoe)]:
        Presence.objects.create(stream="s", socket_id=socket_id, user=user, last_seen=now)

    states, _ = presence_frames(states=["s"], diffs={})

    people = [(entry["username"], entry["name"]) for entry in states["s"]["refs"]]
    assert people == [("zoe", "Aaron Zoe"), ("zoe", "Aaron Zoe"), ("ann", "ann")]
    assert {entry["colour"] for entry in states["s"]["refs"]} == {zoe.pk % 12, ann.pk % 12}
    assert states["s"]["count"] == 2
