"""manage.py load_demo_data: the demo accounts, and nothing more the second time."""

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def load() -> str:
    out = StringIO()
    call_command("load_demo_data", stdout=out)
    return out.getvalue()


def snapshot() -> list[tuple]:
    return list(
        get_user_model()
        .objects.order_by("username")
        .values_list("username", "password", "is_staff", "is_superuser")
    )


def test_it_creates_the_demo_accounts_with_the_documented_passwords():
    load()

    for username in ["alice", "bob", "carol"]:
        user = authenticate(username=username, password="demo-pass-123")
        assert user is not None
        assert not user.is_staff
    admin = authenticate(username="admin", password="demo-admin-123")
    assert admin is not None
    assert admin.is_staff
    assert admin.is_superuser


def test_the_demo_accounts_have_display_names():
    from people.selectors import person_get

    load()

    names = {name: person_get(username=name).profile.display_name for name in ["alice", "bob"]}
    assert names == {"alice": "Alice Martin", "bob": "Bob Okafor"}


def test_running_it_again_changes_nothing():
    load()
    first = snapshot()

    load()

    assert snapshot() == first
    assert len(first) == 4


def test_it_keeps_an_account_that_exists_already(make_user):
    make_user(username="alice")

    load()

    assert authenticate(username="alice", password="demo-pass-123") is None
    assert get_user_model().objects.filter(username="alice").count() == 1


def test_it_adds_rooms_with_a_conversation_once():
    from chat.models import Message, Room, RoomEvent

    load()
    load()
    assert Room.objects.count() == 5
    lobby = Room.objects.get(slug="lobby")
    assert lobby.last_seq == Message.objects.filter(room=lobby).count() >= 3
    assert list(RoomEvent.objects.filter(room=lobby).values_list("seq", flat=True)) == list(
        range(1, lobby.last_seq + 1)
    )


def test_it_adds_a_private_room_a_direct_conversation_and_a_mention_carol_has_not_read():
    from chat.models import Membership, Room
    from chat.selectors import room_readable, sidebar

    load()
    load()
    alice, bob, carol = (
        get_user_model().objects.get(username=n) for n in ("alice", "bob", "carol")
    )

    private = Room.objects.get(kind=Room.Kind.PRIVATE)
    direct = Room.objects.get(kind=Room.Kind.DIRECT)
    for room in (private, direct):
        members = set(Membership.objects.filter(room=room).values_list("user__username", flat=True))
        assert members == {"alice", "bob"}
        assert not room_readable(room=room, user=carol)
    assert direct.messages.count() == 2
    lobby = next(entry for entry in sidebar(user=carol) if entry.slug == "lobby")
    assert lobby.mentions == 1 and lobby.unread >= 1
