"""Account pages: the login page says what it is for, people's pages, your profile, password
change and reset, the welcome of a new account, and fields described by ids that exist."""

import re
from html.parser import HTMLParser

import pytest
from django.core import mail
from django.test import Client

from chat.models import Room
from chat.services import room_create
from people.selectors import person_card
from people.services import profile_update
from website.forms import UNAVAILABLE

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-long-Pass-phrase-77"


@pytest.fixture
def ann(make_user):
    return make_user(username="ann", email="ann@example.org")


@pytest.fixture
def signed_in(client, ann):
    client.force_login(ann)
    return client


# The login page ----------------------------------------------------------------------


def test_the_login_page_names_the_public_room_it_was_opened_for(client, ann):
    room = room_create(name="Lobby", created_by=ann)

    response = client.get(f"/accounts/login/?next=/chat/{room.slug}/")

    assert "Log in to join the chat in Lobby." in response.text


def test_the_login_page_names_no_private_room(client, ann):
    room = room_create(name="Secret plans", created_by=ann, kind=Room.Kind.PRIVATE)

    response = client.get(f"/accounts/login/?next=/chat/{room.slug}/")

    assert "Secret plans" not in response.text
    assert "Log in to continue." in response.text


@pytest.mark.parametrize("next_url", ["/chat/", "/chat/no-such-room/", "/nowhere/"])
def test_the_login_page_says_log_in_to_continue_for_anywhere_else(client, next_url):
    assert "Log in to continue." in client.get(f"/accounts/login/?next={next_url}").text


def test_a_room_page_sends_an_anonymous_visitor_to_a_login_page_that_says_why(client, ann):
    room = room_create(name="Lobby", created_by=ann)

    response = client.get(f"/chat/{room.slug}/", follow=True)

    assert "Log in to join the chat in Lobby." in response.text


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.described_by: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        self.described_by += (values.get("aria-describedby") or "").split()


def _missing_described_by(html: str) -> set[str]:
    parser = _Ids()
    parser.feed(html)
    assert parser.described_by  # the check sees something to check
    return set(parser.described_by) - parser.ids


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/accounts/signup/", None),
        ("/accounts/signup/", {"username": "x\u202e", "password1": "a", "password2": "b"}),
        ("/accounts/login/?next=/chat/", None),
        ("/accounts/login/", {"username": "", "password": ""}),
        ("/accounts/password/reset/", {"email": "not an address"}),
    ],
)
def test_every_aria_describedby_of_the_account_forms_names_an_element_that_exists(
    client, path, data
):
    response = client.post(path, data) if data else client.get(path)

    assert _missing_described_by(response.text) == set()


def test_every_aria_describedby_of_the_profile_and_password_forms_exists(signed_in):
    for path in ["/accounts/profile/", "/accounts/password/"]:
        assert _missing_described_by(signed_in.get(path).text) == set()
    response = signed_in.post("/accounts/profile/", {"display_name": "!!!"})
    assert _missing_described_by(response.text) == set()


# Welcome ------------------------------------------------------------------------------


def test_a_new_account_is_welcomed_once_with_what_to_do_next(client, make_user):
    lobby = room_create(name="Lobby", created_by=make_user())
    data = {"username": "newcomer", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}

    response = client.post("/accounts/signup/", data, follow=True)

    assert "Welcome, newcomer!" in response.text
    assert "What to do next" in response.text
    assert f'href="/chat/{lobby.slug}/"' in response.text
    assert 'href="/accounts/profile/"' in response.text
    assert "What to do next" not in client.get("/").text


# People's pages ---------------------------------------------------------------------


def test_a_persons_page_shows_their_avatar_names_joined_date_and_a_message_button(
    signed_in, make_user
):
    bob = make_user(username="bob")
    profile_update(user=bob, display_name="Bob Stone")

    response = signed_in.get("/people/bob/")

    card = person_card(user=bob)
    assert f'class="avatar avatar-c{card.colour} avatar-large"' in response.text
    assert 'data-initials="BS"' in response.text
    assert "Bob Stone" in response.text and "@bob" in response.text
    assert f'Joined <time datetime="{bob.date_joined.isoformat()}"' in response.text
    assert 'href="/chat/dm/?with=bob"' in response.text


def test_a_persons_page_is_for_signed_in_users_and_only_of_active_people(
    client, signed_in, make_user
):
    make_user(username="gone", is_active=False)

    assert Client().get("/people/ann/").status_code == 302
    assert signed_in.get("/people/gone/").status_code == 404
    assert signed_in.get("/people/nobody/").status_code == 404


def test_the_nav_links_the_signed_in_name_to_its_page_which_offers_a_password_change(
    signed_in, ann
):
    profile_update(user=ann, display_name="Ann Smith")

    home = signed_in.get("/").text
    page = signed_in.get("/people/ann/").text

    assert re.search(r'as </span><a href="/people/ann/"><strong>Ann Smith</strong></a>', home)
    assert 'href="/accounts/password/"' in page


# Your profile ---------------------------------------------------------------------------


def test_saving_the_profile_sets_the_display_name(signed_in, ann):
    response = signed_in.post(
        "/accounts/profile/", {"display_name": "Ann Smith", "email": ann.email}
    )

    assert response.status_code == 302
    assert person_card(user=ann).name == "Ann Smith"


def test_the_profile_form_needs_the_csrf_token(ann):
    client = Client(enforce_csrf_checks=True)
    client.force_login(ann)

    assert client.post("/accounts/profile/", {"display_name": "Mallory"}).status_code == 403
    assert person_card(user=ann).name == "ann"


@pytest.mark.parametrize("taken", ["bob", "B0B", "admin"])
def test_a_display_name_may_not_pass_for_someone_elses_username(signed_in, ann, make_user, taken):
    make_user(username="bob")

    response = signed_in.post("/accounts/profile/", {"display_name": taken, "email": ann.email})

    assert response.status_code == 400
    assert response.context["form"].errors["display_name"] == [UNAVAILABLE]


def test_a_display_name_may_be_ones_own_username(signed_in, ann):
    response = signed_in.post("/accounts/profile/", {"display_name": "Ann", "email": ann.email})

    assert response.status_code == 302


def test_a_display_name_of_mixed_scripts_is_refused(signed_in, ann):
    response = signed_in.post("/accounts/profile/", {"display_name": "Аnn Smith", "email": ""})

    assert response.status_code == 400
    assert "display_name" in response.context["form"].errors


def test_a_new_email_needs_the_current_password(signed_in, ann, password):
    data = {"display_name": "", "email": "new@example.org"}

    refused = signed_in.post("/accounts/profile/", data)
    ann.refresh_from_db()
    assert refused.status_code == 400 and ann.email == "ann@example.org"

    signed_in.post("/accounts/profile/", data | {"password": password})
    ann.refresh_from_db()
    assert ann.email == "new@example.org"


def test_profile_changes_are_limited_per_user(signed_in, ann, settings):
    settings.PROFILE_CHANGE_LIMIT = 2
    data = {"display_name": "Ann Smith", "email": ann.email}
    assert [signed_in.post("/accounts/profile/", data).status_code for _ in range(3)] == [
        302,
        302,
        429,
    ]


# Passwords ------------------------------------------------------------------------------


def test_changing_the_password_keeps_this_session_signed_in(signed_in, ann, password):
    data = {"old_password": password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}

    response = signed_in.post("/accounts/password/", data, follow=True)

    assert "Password changed" in response.text
    ann.refresh_from_db()
    assert ann.check_password(NEW_PASSWORD)
    assert signed_in.get("/accounts/profile/").status_code == 200


def test_a_password_reset_mails_a_link_that_sets_a_new_password(client, ann):
    response = client.post("/accounts/password/reset/", {"email": "ann@example.org"}, follow=True)

    assert "Check your email" in response.text
    (message,) = mail.outbox
    assert message.to == ["ann@example.org"]
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", message.body)[1]
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.text
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Password set" in done.text
    ann.refresh_from_db()
    assert ann.check_password(NEW_PASSWORD)
    # The link works once.
    assert "This link no longer works" in client.get(link, follow=True).text


def test_a_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client):
    response = client.post("/accounts/password/reset/", {"email": "who@example.org"}, follow=True)

    assert "Check your email" in response.text
    assert mail.outbox == []


def test_reset_requests_are_limited_per_address(client, ann, settings):
    settings.PASSWORD_RESET_LIMIT = 1
    client.post("/accounts/password/reset/", {"email": "ann@example.org"})

    response = client.post("/accounts/password/reset/", {"email": "ann@example.org"})

    assert response.status_code == 429
    assert len(mail.outbox) == 1


def test_without_a_way_to_send_mail_no_reset_is_offered(client, settings):
    settings.PASSWORD_RESET_BY_EMAIL = False

    assert client.get("/accounts/password/reset/").status_code == 404
    assert "Forgot your password?" not in client.get("/accounts/login/").text
    settings.PASSWORD_RESET_BY_EMAIL = True
    assert "Forgot your password?" in client.get("/accounts/login/").text
