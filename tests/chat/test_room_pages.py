"""The chat's pages for rooms of every kind, through Django's test client: the room list's
join, leave and create, a room's members, direct conversations, and the 404 a private room
is to anyone not in it."""

import pytest

from chat import services
from chat.models import Membership, Room

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_user):
    """A private room: olga owns it, bob is in it."""
    olga, bob = make_user(username="olga"), make_user(username="bob")
    room = services.room_create(name="Staff", created_by=olga, kind=Room.Kind.PRIVATE)
    services.member_add(room=room, by=olga, user=bob)
    return room, olga, bob


def test_a_private_room_is_not_found_by_anyone_not_in_it(client, make_user, staff):
    room, _, _ = staff
    client.force_login(make_user())

    for url in (
        f"/chat/{room.slug}/",
        f"/chat/{room.slug}/history",
        f"/chat/{room.slug}/history?before=5",
        f"/chat/{room.slug}/members",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/chat/{room.slug}/join").status_code == 404
    assert b"Staff" not in client.get("/chat/").content
    assert b"Staff" not in client.get("/").content


def test_a_direct_room_is_not_found_by_anyone_not_in_it(client, make_user):
    ann, bob = make_user(), make_user()
    room = services.dm_open(by=ann, users=[bob])
    client.force_login(make_user())

    assert client.get(room.get_absolute_url()).status_code == 404
    assert client.get(f"/chat/{room.slug}/history").status_code == 404


def test_a_member_opens_the_private_room_with_its_sidebar(client, staff):
    room, olga, bob = staff
    services.message_create(room=room, author=olga, body="hi @bob", client_id="c1")
    client.force_login(bob)

    response = client.get(f"/chat/{room.slug}/")

    assert response.status_code == 200
    context = response.context
    assert (context["head"], context["read"], context["joined"]) == (1, 0, True)
    (entry,) = context["sidebar"]
    assert (entry["stream"], entry["unread"], entry["mentions"]) == ("chat:staff", 1, 1)
    assert context["entry"]["kind"] == "private"
    assert context["personal_head"] == 1 + 1  # joined, then mentioned


def test_history_without_before_is_the_latest_page_with_the_head_and_read_position(client, staff):
    room, olga, bob = staff
    for n in range(3):
        services.message_create(room=room, author=olga, body=f"m{n}", client_id=f"c{n}")
    services.read_mark(room=room, user=bob, seq=2)
    client.force_login(bob)

    data = client.get(f"/chat/{room.slug}/history").json()

    assert [message["body"] for message in data["messages"]] == ["m0", "m1", "m2"]
    assert (data["head"], data["read"], data["more"]) == (3, 2, False)
    assert data["room"] == {
        "stream": "chat:staff",
        "slug": "staff",
        "name": "Staff",
        "kind": "private",
        "url": "/chat/staff/",
        "head": 3,
        "read": 2,
        "unread": 1,
        "mentions": 0,
    }
    assert client.get(f"/chat/{room.slug}/history?before=x").status_code == 400


def test_join_and_leave_from_the_room_list(client, make_room, user):
    room = make_room("Lobby")
    client.force_login(user)

    page = client.get("/chat/")
    assert f'action="/chat/{room.slug}/join"'.encode() in page.content
    assert client.post(f"/chat/{room.slug}/join")["Location"] == room.get_absolute_url()
    assert Membership.objects.filter(room=room, user=user).exists()
    assert f'action="/chat/{room.slug}/leave"'.encode() in client.get("/chat/").content

    assert client.post(f"/chat/{room.slug}/leave")["Location"] == "/chat/"
    assert not Membership.objects.filter(room=room, user=user).exists()
    assert client.get(f"/chat/{room.slug}/join").status_code == 405


def test_join_and_leave_need_the_csrf_token(user, make_room):
    from django.test import Client

    room = make_room()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    assert client.post(f"/chat/{room.slug}/join").status_code == 403
    assert not Membership.objects.filter(user=user).exists()


def test_a_room_created_private_is_owned_by_its_creator(client, user):
    client.force_login(user)

    response = client.post("/chat/", {"name": "Secret", "private": "on"})

    room = Room.objects.get(slug="secret")
    assert response["Location"] == room.get_absolute_url()
    assert room.kind == Room.Kind.PRIVATE
    assert Membership.objects.get(room=room).user == user
    assert Membership.objects.get(room=room).role == Membership.Role.OWNER


def test_an_owner_adds_and_removes_members_by_username(client, make_user, staff):
    room, olga, bob = staff
    carol = make_user(username="carol")
    client.force_login(olga)

    page = client.get(f"/chat/{room.slug}/members")
    assert (
        page.status_code == 200
        and b"bob" in page.content
        and b"csrfmiddlewaretoken" in page.content
    )

    added = client.post(f"/chat/{room.slug}/members", {"username": "carol"})
    assert added["Location"] == f"/chat/{room.slug}/members"
    assert Membership.objects.filter(room=room, user=carol).exists()

    unknown = client.post(f"/chat/{room.slug}/members", {"username": "nobody"})
    assert unknown.status_code == 400 and b"No one has this username" in unknown.content

    client.post(f"/chat/{room.slug}/members", {"remove": bob.pk})
    assert not Membership.objects.filter(room=room, user=bob).exists()


def test_a_member_who_is_not_an_owner_cannot_manage_members(client, make_user, staff):
    room, olga, bob = staff
    client.force_login(bob)

    page = client.get(f"/chat/{room.slug}/members")
    assert page.status_code == 200 and b"Add someone" not in page.content
    assert client.post(f"/chat/{room.slug}/members", {"remove": olga.pk}).status_code == 403
    assert client.post(f"/chat/{room.slug}/members", {"username": "x"}).status_code == 403
    assert Membership.objects.filter(room=room, user=olga).exists()


def test_posting_usernames_opens_the_direct_room_and_finds_it_again(client, make_user):
    ann, bob = make_user(username="ann"), make_user(username="bob")
    client.force_login(ann)

    first = client.post("/chat/dm/", {"usernames": "bob"})
    again = client.post("/chat/dm/", {"usernames": "bob, ann"})

    room = Room.objects.get(kind=Room.Kind.DIRECT)
    assert first["Location"] == again["Location"] == room.get_absolute_url()
    assert {m.user for m in Membership.objects.filter(room=room)} == {ann, bob}
    assert client.get(room.get_absolute_url()).status_code == 200


def test_a_direct_room_with_someone_unknown_is_explained(client, user):
    client.force_login(user)

    response = client.post("/chat/dm/", {"usernames": "ghost"})

    assert response.status_code == 400 and b"ghost" in response.content
    assert not Room.objects.exists()


def test_a_mentions_link_shows_the_direct_conversation_form_filled_in(client, make_user):
    client.force_login(make_user())

    page = client.get("/chat/dm/", {"with": "bob"})

    assert page.status_code == 200
    assert b'value="bob"' in page.content and b"csrfmiddlewaretoken" in page.content


def test_starting_conversations_counts_against_the_room_creation_limit(client, make_user, settings):
    settings.ROOM_CREATE_LIMIT = 1
    ann, bob, carol = (make_user(username=name) for name in ("ann", "bob", "carol"))
    client.force_login(ann)

    first = client.post("/chat/dm/", {"usernames": "bob"})
    refused = client.post("/chat/dm/", {"usernames": "carol"})
    found = client.post("/chat/dm/", {"usernames": "bob"})

    assert first.status_code == found.status_code == 302
    assert refused.status_code == 429 and b"many conversations" in refused.content
    assert Room.objects.filter(kind=Room.Kind.DIRECT).count() == 1
