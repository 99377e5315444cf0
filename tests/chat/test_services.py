import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from chat import services
from chat.models import Message, Room, RoomEvent
from chat.protocol import SERVER
from chat.selectors import message_list, room_list
from people.models import Profile

pytestmark = pytest.mark.django_db


def test_room_create_makes_a_slug_and_refuses_duplicates(make_user):
    room = services.room_create(name="  Django Talk! ", created_by=make_user())
    assert (room.name, room.slug) == ("Django Talk!", "django-talk")
    with pytest.raises(ValidationError):
        services.room_create(name="django talk", created_by=None)
    with pytest.raises(ValidationError):
        services.room_create(name="!!!", created_by=None)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Привет мир", "привет-мир"),
        ("中文聊天室", "中文聊天室"),
        ("Python 入門 のへや", "python-入門-のへや"),
        ("Ｌｏｂｂｙ  ２", "lobby-2"),
    ],
)
def test_a_room_named_in_any_one_script_gets_a_slug_in_that_script(name, slug):
    room = services.room_create(name=name, created_by=None)

    assert room.slug == slug
    assert Room.objects.get(slug=slug) == room


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("P\u0430ypal", "mixed_scripts"),  # Cyrillic а among Latin letters
        ("Москва London", "mixed_scripts"),
        ("Ελληνικά and Русский", "mixed_scripts"),
        ("Lobby\u202egnp.exe", "invisible"),  # right-to-left override
        ("Lo\u200bbby", "invisible"),  # zero-width space
        ("Lobby\u2066x\u2069", "invisible"),  # a bidi isolate
        ("Lobby\u3164", "invisible"),  # a Hangul filler, drawn as nothing
        ("Lob\tby", "invisible"),
    ],
)
def test_a_room_name_that_mixes_scripts_or_hides_characters_is_refused(name, code):
    with pytest.raises(ValidationError) as refused:
        services.room_create(name=name, created_by=None)

    assert refused.value.error_dict["name"][0].code == code
    assert not Room.objects.exists()


def test_a_room_name_too_long_once_normalised_is_refused():
    # Each of these ligatures is one character, and eighteen once normalised.
    with pytest.raises(ValidationError) as refused:
        services.room_create(name="\ufdfa" * 5, created_by=None)

    assert refused.value.error_dict["name"][0].code == "too_long"


def test_messages_get_gap_free_seqs_and_logged_frames(make_room, make_user):
    room, ann = make_room(), make_user()
    for n in range(3):
        services.message_create(room=room, author=ann, body=f"hi {n}", client_id=f"c{n}")
    events = list(RoomEvent.objects.filter(room=room))
    assert [event.seq for event in events] == [1, 2, 3]
    room.refresh_from_db()
    assert room.last_seq == 3
    for event in events:
        SERVER.check(json.loads(event.frame))


def test_a_retried_client_id_creates_nothing(make_room, make_user):
    room, ann = make_room(), make_user()
    first, created = services.message_create(room=room, author=ann, body="hi", client_id="x")
    again, created_again = services.message_create(room=room, author=ann, body="hi", client_id="x")
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Message.objects.count() == 1
    assert Room.objects.get().last_seq == 1


def test_markdown_is_rendered_and_sanitised(make_room, make_user):
    room, ann = make_room(), make_user()
    body = "*hi* `x` https://example.com <img src=x onerror=alert(1)> [a](javascript:alert(1))"
    message, _ = services.message_create(room=room, author=ann, body=body, client_id="m")
    assert "<em>hi</em>" in message.html and "<code>x</code>" in message.html
    assert '<a href="https://example.com"' in message.html
    # The tag and the link survive only as inert text.
    assert "<img" not in message.html and "&lt;img src=x onerror=alert(1)&gt;" in message.html
    assert 'href="javascript' not in message.html


def test_only_the_author_edits_and_staff_may_delete(make_room, make_user):
    room, ann, bob = make_room(), make_user(), make_user()
    staff = make_user(is_staff=True)
    message, _ = services.message_create(room=room, author=ann, body="hi", client_id="m")
    with pytest.raises(PermissionDenied):
        services.message_edit(room=room, message_id=message.pk, by=bob, body="mine now")
    with pytest.raises(PermissionDenied):
        services.message_delete(room=room, message_id=message.pk, by=bob)
    services.message_edit(room=room, message_id=message.pk, by=ann, body="hello")
    services.message_delete(room=room, message_id=message.pk, by=staff)
    message.refresh_from_db()
    assert message.is_deleted and message.body == ""
    with pytest.raises(Message.DoesNotExist):
        services.message_edit(room=room, message_id=message.pk, by=ann, body="back")


def test_delete_redacts_what_earlier_events_said(make_room, make_user):
    room, ann = make_room(), make_user()
    message, _ = services.message_create(room=room, author=ann, body="secret", client_id="m")
    services.message_edit(room=room, message_id=message.pk, by=ann, body="secret 2")
    services.message_delete(room=room, message_id=message.pk, by=ann)
    frames = [json.loads(event.frame) for event in RoomEvent.objects.filter(room=room)]
    assert [frame["type"] for frame in frames] == [
        "chat.message",
        "chat.message_updated",
        "chat.message_deleted",
    ]
    assert all("secret" not in json.dumps(frame) for frame in frames)
    assert all(frame["message"]["deleted"] for frame in frames)


def test_a_rolled_back_write_leaves_no_seq_behind(make_room, make_user):
    room, ann = make_room(), make_user()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.message_create(room=room, author=ann, body="never", client_id="a")
        raise RuntimeError
    services.message_create(room=room, author=ann, body="kept", client_id="b")
    assert list(RoomEvent.objects.values_list("seq", flat=True)) == [1]


def test_history_pages_back_without_overlap(make_room, make_user):
    room, ann = make_room(), make_user()
    for n in range(120):
        services.message_create(room=room, author=ann, body=f"m{n}", client_id=f"c{n}")
    latest = message_list(room=room)
    older = message_list(room=room, before_id=latest[0].pk)
    oldest = message_list(room=room, before_id=older[0].pk)
    bodies = [m.body for m in oldest + older + latest]
    assert bodies == [f"m{n}" for n in range(120)]


def test_rooms_are_listed_by_latest_activity(make_room, make_user):
    make_room("Quiet")
    busy = make_room("Busy")
    services.message_create(room=busy, author=make_user(), body="hi", client_id="m")
    assert [room.name for room in room_list()] == ["Busy", "Quiet"]


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_member_s_message_is_written_in_four_statements(make_user):
    """Its membership checked (with the author's display name for the frame), one
    UPDATE ... RETURNING for the seq, the message, the event: no lookup before the
    insert, no SELECT of the head, no query for a new message's reactions."""
    room = services.room_create(name="Quiet", created_by=make_user())
    author = make_user()
    services.message_send(room=room, author=author, body="first", client_id="a")

    with CaptureQueriesContext(connection) as queries:
        services.message_send(room=room, author=author, body="hello *there*", client_id="b")

    statements = [query["sql"].split()[0] for query in queries.captured_queries]
    statements = [word for word in statements if word not in ("BEGIN", "COMMIT")]
    assert statements == ["SELECT", "UPDATE", "INSERT", "INSERT"], statements
    assert Message.objects.get(client_id="b").seq == room.last_seq == 2


@pytest.mark.django_db(transaction=True)
def test_a_message_shows_the_display_name_its_author_has_when_sending(make_user):
    """The name is read with the membership, so one changed since the socket opened shows."""
    room = services.room_create(name="Names", created_by=make_user())
    author = make_user(username="ann")
    services.message_send(room=room, author=author, body="first", client_id="a")
    Profile.objects.update_or_create(user=author, defaults={"display_name": "Ann Smith"})
    message, _ = services.message_send(room=room, author=author, body="again", client_id="b")
    event = room.events.get(seq=message.seq)
    assert json.loads(event.frame)["message"]["author_name"] == "Ann Smith"


def test_a_retried_send_takes_no_seq_and_answers_with_the_first_message(make_user):
    room = services.room_create(name="Retries", created_by=make_user())
    author = make_user()
    first, created = services.message_send(room=room, author=author, body="one", client_id="c")

    again, created_again = services.message_send(
        room=room, author=author, body="one, edited", client_id="c"
    )
    after, _ = services.message_send(room=room, author=author, body="two", client_id="d")

    assert (created, created_again) == (True, False)
    assert (again.pk, again.body) == (first.pk, "one")
    assert [first.seq, after.seq] == [1, 2]
    assert Room.objects.get(pk=room.pk).last_seq == 2
