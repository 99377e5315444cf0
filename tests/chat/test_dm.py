"""Direct conversations: one room per set of people, found again, private to them.

Marked `stack`: they run again on PostgreSQL + Redis.
"""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from chat import services
from chat.models import Membership, Room
from chat.selectors import room_readable, sidebar

pytestmark = [pytest.mark.django_db, pytest.mark.stack]


def test_opening_a_conversation_again_finds_the_same_room(make_user, personal):
    ann, bob = make_user(username="ann"), make_user(username="bob")

    room = services.dm_open(by=ann, users=[bob])

    assert room.kind == Room.Kind.DIRECT
    assert services.dm_open(by=bob, users=[ann]) == room
    assert services.dm_open(by=ann, users=[bob, ann]) == room
    assert Room.objects.count() == 1
    assert [f["room"]["name"] for f in personal(bob, "user.joined")] == ["ann"]
    assert [f["room"]["name"] for f in personal(ann, "user.joined")] == ["bob"]


def test_a_conversation_of_other_people_is_another_room(make_user):
    ann, bob, carol = (make_user(username=name) for name in ("ann", "bob", "carol"))

    two = services.dm_open(by=ann, users=[bob])
    three = services.dm_open(by=ann, users=[bob, carol])

    assert two != three
    assert services.dm_open(by=carol, users=[bob, ann]) == three
    services.message_create(room=two, author=bob, body="hi", client_id="c1")
    # The latest active conversation first, each named by the others in it.
    assert [entry.name for entry in sidebar(user=ann)] == ["bob", "bob, carol"]
    assert [entry.name for entry in sidebar(user=carol)] == ["ann, bob"]


def test_a_conversation_is_readable_by_its_people_only(make_user):
    ann, bob, carol = make_user(), make_user(), make_user()

    room = services.dm_open(by=ann, users=[bob])

    assert room_readable(room=room, user=ann) and room_readable(room=room, user=bob)
    assert not room_readable(room=room, user=carol)


def test_someone_who_left_a_conversation_is_back_when_it_is_opened_again(make_user, personal):
    ann, bob = make_user(), make_user()
    room = services.dm_open(by=ann, users=[bob])
    services.room_leave(room=room, user=bob)
    services.message_create(room=room, author=ann, body="still there?", client_id="c1")

    assert services.dm_open(by=ann, users=[bob]) == room

    membership = Membership.objects.get(room=room, user=bob)
    assert membership.read == room.messages.count() == 1  # what came before is not unread
    assert len(personal(bob, "user.joined")) == 2


def test_a_conversation_needs_someone_else_and_no_more_than_the_limit(make_user, settings):
    settings.CHAT_DIRECT_MEMBERS = 3
    ann = make_user()

    with pytest.raises(ValidationError):
        services.dm_open(by=ann, users=[ann])
    with pytest.raises(ValidationError):
        services.dm_open(by=ann, users=[make_user() for _ in range(3)])
    with pytest.raises(ValidationError):
        services.dm_open(by=ann, users=[make_user(is_active=False)])
    assert not Room.objects.exists()


def test_the_rooms_of_a_conversation_take_no_member_management(make_user):
    ann, bob = make_user(), make_user()
    room = services.dm_open(by=ann, users=[bob])

    with pytest.raises(PermissionDenied):
        services.member_add(room=room, by=ann, user=make_user())
