"""Unread and mention counts, computed from each member's read position; read_mark.

Marked `stack`: the counting queries run again on PostgreSQL.
"""

import pytest

from chat import services
from chat.models import Membership, Room
from chat.selectors import room_entry, sidebar

pytestmark = [pytest.mark.django_db, pytest.mark.stack]


def post(room, author, *bodies):
    return [
        services.message_create(room=room, author=author, body=body, client_id=body)[0]
        for body in bodies
    ]


@pytest.fixture
def lobby(make_room, make_user):
    """A room bob has joined, and ann, who writes in it."""
    room = make_room("Lobby")
    ann, bob = make_user(username="ann"), make_user(username="bob")
    services.room_join(room=room, user=bob)
    return room, ann, bob


def test_messages_after_the_read_position_by_others_are_unread(lobby):
    room, ann, bob = lobby
    one, two = post(room, ann, "one", "two")
    post(room, bob, "mine")

    (entry,) = sidebar(user=bob)

    assert (entry.stream, entry.kind, entry.head, entry.read) == ("chat:lobby", "public", 3, 0)
    assert entry.unread == 2
    assert entry.unread_ids == [(two.pk, two.seq), (one.pk, one.seq)]
    assert entry.mentions == 0 and entry.mention_ids == []


def test_a_deleted_message_is_no_longer_counted(lobby):
    room, ann, bob = lobby
    one, _ = post(room, ann, "one", "two")

    services.message_delete(room=room, message_id=one.pk, by=ann)

    (entry,) = sidebar(user=bob)
    assert entry.unread == 1
    assert [message_id for message_id, _ in entry.unread_ids] == [one.pk + 1]


def test_the_sidebar_takes_two_queries_however_many_rooms(
    make_room, make_user, lobby, django_assert_num_queries
):
    room, ann, bob = lobby
    for n in range(5):
        other = make_room(f"Room {n}")
        post(other, ann, f"hello {n}")
        services.room_join(room=other, user=bob)
        post(other, ann, f"again {n}")
    services.dm_open(by=ann, users=[bob])

    with django_assert_num_queries(2):
        entries = sidebar(user=bob)

    assert [entry.name for entry in entries] == [
        "Lobby", "Room 0", "Room 1", "Room 2", "Room 3", "Room 4", "ann"
    ]  # fmt: skip
    assert [entry.unread for entry in entries] == [0, 1, 1, 1, 1, 1, 0]


def test_the_unread_ids_are_capped_per_room(lobby, settings):
    settings.CHAT_UNREAD_IDS = 2
    room, ann, bob = lobby
    post(room, ann, "one", "two", "three")

    (entry,) = sidebar(user=bob)

    assert entry.unread == 3
    assert [seq for _, seq in entry.unread_ids] == [3, 2]


def test_read_mark_moves_forward_once_and_tells_every_tab(lobby, personal):
    room, ann, bob = lobby
    post(room, ann, "one", "two")

    assert services.read_mark(room=room, user=bob, seq=2) == 2
    assert services.read_mark(room=room, user=bob, seq=2) == 2
    assert services.read_mark(room=room, user=bob, seq=1) == 2

    assert [(f["room"], f["read"]) for f in personal(bob, "user.read")] == [("chat:lobby", 2)]
    (entry,) = sidebar(user=bob)
    assert (entry.read, entry.unread, entry.unread_ids) == (2, 0, [])


def test_read_mark_is_clamped_to_the_head(lobby, personal):
    room, ann, bob = lobby
    post(room, ann, "one")

    assert services.read_mark(room=room, user=bob, seq=99) == 1
    assert services.read_mark(room=room, user=bob, seq=-5) == 1

    assert Membership.objects.get(room=room, user=bob).read == 1
    assert [f["read"] for f in personal(bob, "user.read")] == [1]


def test_read_mark_of_someone_not_in_the_room_keeps_nothing(make_room, make_user, personal):
    room, ann, bob = make_room(), make_user(), make_user()
    post(room, ann, "one")

    assert services.read_mark(room=room, user=bob, seq=1) == 0
    assert not Membership.objects.filter(user=bob).exists()
    assert personal(bob) == []


def test_someone_not_in_a_public_room_has_read_it_all(lobby, make_user):
    room, ann, _ = lobby
    post(room, ann, "one")

    entry = room_entry(room=room, user=make_user())

    assert (entry.head, entry.read, entry.unread) == (1, 1, 0)


def test_a_read_position_past_the_head_counts_as_the_head(lobby):
    room, ann, bob = lobby
    post(room, ann, "one")
    Membership.objects.filter(user=bob).update(read=50)

    assert room_entry(room=room, user=bob).read == 1
    assert Room.objects.get(pk=room.pk).last_seq == 1
