import json

import pytest

from chat import services
from chat.models import Room

pytestmark = pytest.mark.django_db


def test_the_room_list_and_home_page_show_rooms(client, make_room):
    make_room("Lobby")
    for url in ("/", "/chat/"):
        response = client.get(url)
        assert response.status_code == 200
        assert b"Lobby" in response.content


def test_the_room_list_shows_fifty_rooms_a_page_with_links_between_pages(client, make_room):
    for n in range(51):
        make_room(f"Room {n:02}")

    first = client.get("/chat/")
    second = client.get("/chat/", {"page": 2})

    first_names = [room.name for room in first.context["rooms"]]
    second_names = [room.name for room in second.context["rooms"]]
    assert len(first_names) == 50 and len(second_names) == 1
    assert sorted(first_names + second_names) == [f"Room {n:02}" for n in range(51)]
    assert b'href="?page=2" rel="next"' in first.content and b'rel="prev"' not in first.content
    assert b'href="?page=1" rel="prev"' in second.content and b'rel="next"' not in second.content
    assert b"Page 2 of 2" in second.content
    # A page past the end, or not a number, shows the nearest page rather than an error.
    assert client.get("/chat/", {"page": 9}).context["rooms"].number == 2
    assert client.get("/chat/", {"page": "x"}).context["rooms"].number == 1


def test_a_signed_in_user_creates_a_room(client, user):
    client.force_login(user)
    response = client.post("/chat/", {"name": "Night Owls", "description": "late"})
    assert response.status_code == 302 and response["Location"] == "/chat/night-owls/"
    assert Room.objects.get(slug="night-owls").created_by == user


def test_an_invalid_or_duplicate_name_is_explained(client, user, make_room):
    make_room("Lobby")
    client.force_login(user)
    for name in ("lobby", "???"):
        response = client.post("/chat/", {"name": name})
        assert response.status_code == 200
        assert response.context["form"].errors
    assert Room.objects.count() == 1


def test_anonymous_users_cannot_create_rooms_or_enter_them(client, make_room):
    room = make_room("Lobby")
    assert client.post("/chat/", {"name": "Sneaky"})["Location"].startswith("/accounts/login/")
    assert client.get(f"/chat/{room.slug}/")["Location"].startswith("/accounts/login/")
    assert Room.objects.count() == 1


def test_csrf_is_enforced_on_room_creation(user):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/chat/", {"name": "No token"}).status_code == 403


def test_the_room_page_carries_the_head_and_the_latest_messages(client, user, make_room):
    room = make_room("Lobby")
    for n in range(55):
        services.message_create(room=room, author=user, body=f"m{n}", client_id=f"c{n}")
    client.force_login(user)
    response = client.get(f"/chat/{room.slug}/")
    assert response.status_code == 200
    assert b'data-seq="55"' in response.content
    initial = response.context["initial"]
    assert [m["body"] for m in initial["messages"]] == [f"m{n}" for n in range(5, 55)]
    assert initial["more"] is True


def test_history_pages_back_by_message_id(client, user, make_room):
    room = make_room("Lobby")
    messages = [
        services.message_create(room=room, author=user, body=f"m{n}", client_id=f"c{n}")[0]
        for n in range(60)
    ]
    client.force_login(user)
    page = json.loads(client.get(f"/chat/{room.slug}/history?before={messages[10].pk}").content)
    assert [m["body"] for m in page["messages"]] == [f"m{n}" for n in range(10)]
    assert page["more"] is False
    assert client.get(f"/chat/{room.slug}/history?before=x").status_code == 400
    assert client.get("/chat/nowhere/history?before=1").status_code == 404


def test_a_room_named_in_cyrillic_is_created_and_served_at_its_own_address(client, user):
    client.force_login(user)

    response = client.post("/chat/", {"name": "Ночные совы"})

    address = "/chat/%D0%BD%D0%BE%D1%87%D0%BD%D1%8B%D0%B5-%D1%81%D0%BE%D0%B2%D1%8B/"
    assert response.status_code == 302 and response["Location"] == address
    page = client.get(address)
    assert page.status_code == 200
    # The page finds its history (and switches rooms) by the room's URL.
    assert page.context["entry"]["url"] == address
    assert f'"url": "{address}"'.encode() in page.content
    assert client.get(f"{address}history?before=1").json() == {"messages": [], "more": False}


def test_a_room_name_that_mixes_scripts_is_explained(client, user):
    client.force_login(user)

    response = client.post("/chat/", {"name": "P\u0430ypal"})

    assert response.status_code == 200
    assert "mixes letters of different scripts" in response.context["form"].errors["name"][0]
    assert not Room.objects.exists()


def test_room_creation_is_limited_per_user(client, make_user, settings):
    settings.ROOM_CREATE_LIMIT = 2
    ann, bob = make_user(), make_user()
    client.force_login(ann)
    for name in ("One", "Two"):
        assert client.post("/chat/", {"name": name}).status_code == 302

    refused = client.post("/chat/", {"name": "Three"})

    assert refused.status_code == 429
    assert "created many rooms" in refused.context["form"].non_field_errors()[0]
    client.force_login(bob)
    assert client.post("/chat/", {"name": "Three"}).status_code == 302
    assert sorted(Room.objects.values_list("name", flat=True)) == ["One", "Three", "Two"]


def test_the_admin_judges_a_room_name_as_the_site_does(make_user):
    from django.test import Client

    admin = Client()
    admin.force_login(make_user(is_staff=True, is_superuser=True))
    add = {"description": "", "created_by": ""}

    refused = admin.post("/admin/chat/room/add/", {**add, "name": "Lobby\u202e", "slug": "lobby"})
    accepted = admin.post("/admin/chat/room/add/", {**add, "name": "Кафе", "slug": "кафе"})

    assert "invisible or direction-changing" in str(refused.context["adminform"].form.errors)
    assert accepted.status_code == 302
    assert list(Room.objects.values_list("slug", flat=True)) == ["кафе"]


def test_the_admin_shows_a_rooms_kind_and_members_without_changing_them(make_user):
    from django.test import Client

    owner = make_user(username="olga")
    room = services.room_create(name="Staff", created_by=owner, kind=Room.Kind.PRIVATE)
    admin = Client()
    admin.force_login(make_user(is_staff=True, is_superuser=True))

    page = admin.get(f"/admin/chat/room/{room.pk}/change/")

    assert page.status_code == 200
    assert b"olga" in page.content and b"Private" in page.content
    assert b'name="kind"' not in page.content
