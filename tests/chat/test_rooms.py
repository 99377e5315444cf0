"""Public and private rooms: who owns them, who is in them, and who may read them.

Services and selectors marked `stack`: they run again on PostgreSQL + Redis.
"""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from chat import services
from chat.models import Membership, Room
from chat.selectors import room_browse, room_list, room_readable
from streams.revocation import UNSUBSCRIBE, user_group

pytestmark = [pytest.mark.django_db, pytest.mark.stack]


@pytest.fixture
def private_room(make_user):
    owner = make_user(username="olga")
    room = services.room_create(name="Staff", created_by=owner, kind=Room.Kind.PRIVATE)
    return room, owner


@pytest.fixture
def revocations(monkeypatch) -> list[dict]:
    """The layer messages subscriptions_revoke sends, as they are sent."""
    sent: list[dict] = []

    class Layer:
        async def group_send(self, group, message):
            sent.append({"group": group, **message})

    monkeypatch.setattr("streams.revocation.channel_layer", Layer)
    return sent


def test_a_rooms_creator_owns_it_and_hears_that_they_joined(make_user, personal):
    ann = make_user(username="ann")

    room = services.room_create(name="Lobby", created_by=ann)

    assert room.kind == Room.Kind.PUBLIC
    assert Membership.objects.get(room=room).role == Membership.Role.OWNER
    (joined,) = personal(ann, "user.joined")
    assert joined["room"]["stream"] == "chat:lobby"
    assert joined["room"]["kind"] == "public"


def test_a_direct_room_is_not_made_by_room_create(make_user):
    with pytest.raises(ValidationError):
        services.room_create(name="Sneaky", created_by=make_user(), kind=Room.Kind.DIRECT)


def test_no_room_takes_the_address_of_the_direct_conversation_page(make_user):
    with pytest.raises(ValidationError):
        services.room_create(name="DM", created_by=make_user())


def test_anyone_signed_in_reads_a_public_room_and_only_members_a_private_one(
    make_room, make_user, private_room
):
    public = make_room()
    room, owner = private_room
    stranger = make_user()

    assert room_readable(room=public, user=stranger)
    assert room_readable(room=room, user=owner)
    assert not room_readable(room=room, user=stranger)


def test_anyone_joins_a_public_room_once_but_not_a_private_one(
    make_room, make_user, private_room, personal
):
    public, ann = make_room(), make_user()

    services.room_join(room=public, user=ann)
    services.room_join(room=public, user=ann)

    assert Membership.objects.filter(room=public, user=ann).count() == 1
    assert len(personal(ann, "user.joined")) == 1
    with pytest.raises(PermissionDenied):
        services.room_join(room=private_room[0], user=ann)


def test_a_joiner_starts_read_up_to_the_head(make_room, make_user):
    room, ann, bob = make_room(), make_user(), make_user()
    services.message_create(room=room, author=ann, body="before", client_id="c1")

    membership = services.room_join(room=room, user=bob)

    assert membership.read == 1


def test_sending_in_a_public_room_joins_it(make_room, make_user, personal):
    room, ann = make_room(), make_user()

    services.message_create(room=room, author=ann, body="hi", client_id="c1")

    assert Membership.objects.filter(room=room, user=ann).exists()
    assert personal(ann, "user.joined")[0]["room"]["slug"] == room.slug


def test_only_members_write_in_a_private_room(make_user, private_room):
    room, owner = private_room

    with pytest.raises(PermissionDenied):
        services.message_create(room=room, author=make_user(), body="hi", client_id="c1")

    assert not room.messages.exists()
    services.message_create(room=room, author=owner, body="hi", client_id="c1")


def test_an_owner_adds_and_removes_members_and_the_removed_lose_the_room(
    make_user, private_room, personal, revocations, django_capture_on_commit_callbacks
):
    room, owner = private_room
    bob = make_user(username="bob")

    services.member_add(room=room, by=owner, user=bob)
    assert room_readable(room=room, user=bob)
    assert personal(bob, "user.joined")[0]["room"]["kind"] == "private"

    with django_capture_on_commit_callbacks(execute=True):
        services.member_remove(room=room, by=owner, user=bob)

    assert not room_readable(room=room, user=bob)
    assert personal(bob, "user.left")[0]["room"] == room.stream_name
    assert revocations == [
        {
            "group": user_group(bob.pk),
            "type": UNSUBSCRIBE,
            "stream": room.stream_name,
        }
    ]


def test_leaving_a_public_room_revokes_nothing(
    make_room, make_user, personal, revocations, django_capture_on_commit_callbacks
):
    room, ann = make_room(), make_user()
    services.room_join(room=room, user=ann)

    with django_capture_on_commit_callbacks(execute=True):
        services.room_leave(room=room, user=ann)

    assert not Membership.objects.filter(room=room, user=ann).exists()
    assert len(personal(ann, "user.left")) == 1
    assert revocations == []


def test_leaving_a_private_room_revokes_the_leavers_subscriptions(
    make_user, private_room, revocations, django_capture_on_commit_callbacks
):
    room, owner = private_room

    with django_capture_on_commit_callbacks(execute=True):
        services.room_leave(room=room, user=owner)

    assert [message["stream"] for message in revocations] == [room.stream_name]


def test_only_an_owner_manages_members_and_only_of_a_private_room(
    make_room, make_user, private_room
):
    room, owner = private_room
    bob, carol = make_user(), make_user()
    services.member_add(room=room, by=owner, user=bob)

    with pytest.raises(PermissionDenied):
        services.member_add(room=room, by=bob, user=carol)
    with pytest.raises(PermissionDenied):
        services.member_remove(room=room, by=bob, user=owner)
    public = make_room(created_by=owner)
    with pytest.raises(PermissionDenied):
        services.member_add(room=public, by=owner, user=carol)
    assert not room_readable(room=room, user=carol)


def test_the_room_list_shows_public_rooms_and_ones_own_private_rooms(
    make_room, make_user, private_room
):
    public = make_room("Lobby")
    room, owner = private_room
    stranger = make_user()
    for _ in range(3):  # a room with members is still listed once
        services.room_join(room=public, user=make_user())
    services.dm_open(by=owner, users=[stranger])

    assert list(room_list()) == [public]
    assert list(room_browse(user=stranger)) == [public]
    browsed = {room.slug: (room.joined, room.owned) for room in room_browse(user=owner)}
    assert browsed == {"lobby": (False, False), "staff": (True, True)}


# The data migration ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_rooms_from_before_memberships_are_public_and_owned_by_their_creators(make_user):
    ann, bob = make_user(username="ann"), make_user(username="bob")
    executor = MigrationExecutor(connection)
    executor.migrate([("chat", "0002_room_slug_any_script")])
    old = executor.loader.project_state(("chat", "0002_room_slug_any_script")).apps
    OldRoom, OldMessage = old.get_model("chat", "Room"), old.get_model("chat", "Message")
    room = OldRoom.objects.create(name="Old", slug="old", created_by_id=ann.pk, last_seq=2)
    for seq, author in ((1, ann), (2, bob)):
        OldMessage.objects.create(
            room=room, author_id=author.pk, body="x", html="x", client_id=f"c{seq}", seq=seq
        )
    OldRoom.objects.create(name="Orphan", slug="orphan", last_seq=0)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("chat"))

    migrated = Room.objects.get(slug="old")
    assert migrated.kind == Room.Kind.PUBLIC
    rows = {(m.user.username, m.role, m.read) for m in Membership.objects.filter(room=migrated)}
    assert rows == {("ann", "owner", 2), ("bob", "member", 2)}
    assert not Membership.objects.filter(room__slug="orphan").exists()
