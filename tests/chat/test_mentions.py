"""Mentions: `@username` of an active user is a link; readers of the room are told.

Marked `stack`: they run again on PostgreSQL + Redis.
"""

import pytest

from chat import services
from chat.models import Mention, Room
from chat.selectors import sidebar

pytestmark = [pytest.mark.django_db, pytest.mark.stack]


@pytest.fixture
def people(make_user):
    return {name: make_user(username=name) for name in ("ann", "bob", "carol")}


def test_a_mention_of_a_reader_links_their_name_records_it_and_tells_them(
    make_room, people, personal
):
    room = make_room("Lobby")

    message, _ = services.message_create(
        room=room, author=people["ann"], body="hey @bob, look", client_id="c1"
    )

    assert '<a href="/chat/dm/?with=bob" class="mention"' in message.html
    assert list(Mention.objects.values_list("user__username", flat=True)) == ["bob"]
    (mentioned,) = personal(people["bob"], "user.mentioned")
    assert mentioned == {
        "type": "user.mentioned",
        "seq": mentioned["seq"],
        "room": "chat:lobby",
        "message": message.pk,
        "message_seq": message.seq,
        "author": "ann",
        "excerpt": "hey @bob, look",
    }


def test_no_mention_for_someone_who_cannot_read_the_room(people, personal):
    room = services.room_create(name="Staff", created_by=people["ann"], kind=Room.Kind.PRIVATE)
    services.member_add(room=room, by=people["ann"], user=people["bob"])

    message, _ = services.message_create(
        room=room, author=people["ann"], body="@bob and @carol", client_id="c1"
    )

    assert list(Mention.objects.values_list("user__username", flat=True)) == ["bob"]
    assert personal(people["carol"]) == []
    assert message.html.count('class="mention"') == 2


def test_unknown_inactive_and_own_names_mention_nobody(make_room, people, make_user, personal):
    make_user(username="gone", is_active=False)
    room = make_room()

    message, _ = services.message_create(
        room=room, author=people["ann"], body="@nobody @gone @ann `@bob`", client_id="c1"
    )

    assert not Mention.objects.exists()
    assert message.html.count('class="mention"') == 1  # ann's own name is still a link
    assert personal(people["bob"]) == []


def test_a_message_mentions_at_most_the_limit(make_room, make_user, settings):
    settings.CHAT_MENTIONS_PER_MESSAGE = 2
    names = [make_user(username=f"p{n}").username for n in range(4)]

    services.message_create(
        room=make_room(),
        author=make_user(),
        body=" ".join(f"@{name}" for name in names),
        client_id="c1",
    )

    assert Mention.objects.count() == 2


def test_mentions_count_among_the_unread_until_read_or_deleted(make_room, people):
    room = make_room("Lobby")
    services.room_join(room=room, user=people["bob"])
    first, _ = services.message_create(
        room=room, author=people["ann"], body="@bob one", client_id="c1"
    )
    second, _ = services.message_create(
        room=room, author=people["ann"], body="@bob two", client_id="c2"
    )

    (entry,) = sidebar(user=people["bob"])
    assert (entry.unread, entry.mentions) == (2, 2)
    assert entry.mention_ids == [second.pk, first.pk]

    services.message_delete(room=room, message_id=second.pk, by=people["ann"])
    services.read_mark(room=room, user=people["bob"], seq=first.seq)

    (entry,) = sidebar(user=people["bob"])
    assert (entry.unread, entry.mentions, entry.mention_ids) == (0, 0, [])


def test_an_edit_links_new_names_but_tells_nobody(make_room, people, personal):
    room = make_room()
    message, _ = services.message_create(
        room=room, author=people["ann"], body="hello", client_id="c1"
    )

    edited = services.message_edit(
        room=room, message_id=message.pk, by=people["ann"], body="hello @carol"
    )

    assert 'class="mention"' in edited.html
    assert personal(people["carol"]) == []
