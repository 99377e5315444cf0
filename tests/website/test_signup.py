"""Sign-up: no name that passes for another, one answer for every unavailable one, a limit."""

import pytest
from django.contrib.auth import get_user_model

from website.forms import UNAVAILABLE

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-9431"
User = get_user_model()


def sign_up(client, username: str, **extra):
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    return client.post("/accounts/signup/", data, **extra)


def username_errors(response) -> list[str]:
    return response.context["form"].errors.get("username", [])


@pytest.mark.parametrize(
    "look_alike",
    # The last one is all Cyrillic letters, so one script.
    ["alice", "ALICE", "AIice", "al1ce", "Alic\u00e9", "\u0430\u04cf\u0456\u0441\u0435"],
)
def test_a_name_that_looks_like_an_existing_one_is_not_available(client, make_user, look_alike):
    make_user(username="alice")

    response = sign_up(client, look_alike)

    assert response.status_code == 200
    assert username_errors(response) == [UNAVAILABLE]
    assert User.objects.count() == 1


def test_taken_look_alike_and_reserved_names_get_the_same_answer(client, make_user):
    make_user(username="alice")

    names = ("alice", "\u0430\u04cf\u0456\u0441\u0435", "Admin", "adm1n")
    pages = [sign_up(client, name) for name in names]

    assert [username_errors(page) for page in pages] == [[UNAVAILABLE]] * 4
    for page in pages:
        assert b"already exists" not in page.content
    assert User.objects.count() == 1


def test_a_latin_name_with_a_cyrillic_letter_is_refused_beside_the_real_one(client, make_user):
    make_user(username="alice")

    response = sign_up(client, "\u0430lice")

    assert "mixes letters of different scripts" in username_errors(response)[0]
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("username", "says"),
    [
        ("alice\u202e", "invisible or direction-changing"),
        ("ali\u200bce", "invisible or direction-changing"),
        ("b\u043eb", "mixes letters of different scripts"),
    ],
)
def test_a_name_with_hidden_characters_or_mixed_scripts_is_explained(client, username, says):
    response = sign_up(client, username)

    (error,) = username_errors(response)
    assert says in error
    assert not User.objects.exists()


def test_a_name_in_another_script_signs_up_normalised(client):
    assert sign_up(client, "Алиса")["Location"] == "/"
    assert sign_up(client.__class__(), "\uff42\uff4f\uff42")["Location"] == "/"  # fullwidth

    assert sorted(User.objects.values_list("username", flat=True)) == ["bob", "Алиса"]


def test_sign_up_attempts_from_one_address_are_limited(client, settings):
    settings.SIGNUP_LIMIT = 3
    for name in ("ann", "ann", "ann"):  # refused attempts count too
        assert sign_up(client, name, REMOTE_ADDR="203.0.113.9").status_code in (200, 302)
        client.logout()

    refused = sign_up(client, "bob", REMOTE_ADDR="203.0.113.9")

    assert refused.status_code == 429
    assert b"Too many sign-ups" in refused.content
    assert username_errors(refused) == []  # the name was not even judged
    assert list(User.objects.values_list("username", flat=True)) == ["ann"]
    assert sign_up(client, "bob", REMOTE_ADDR="203.0.113.10").status_code == 302


def test_behind_the_proxy_the_limit_counts_the_forwarded_client_address(client, settings):
    settings.SIGNUP_LIMIT = 1
    settings.TRUSTED_PROXIES = ["172.28.0.10"]
    via_proxy = {"REMOTE_ADDR": "172.28.0.10"}

    assert (
        sign_up(client, "ann", HTTP_X_FORWARDED_FOR="198.51.100.1", **via_proxy).status_code == 302
    )
    client.logout()
    assert (
        sign_up(client, "bob", HTTP_X_FORWARDED_FOR="198.51.100.2", **via_proxy).status_code == 302
    )
    client.logout()
    assert (
        sign_up(client, "cat", HTTP_X_FORWARDED_FOR="198.51.100.1", **via_proxy).status_code == 429
    )
    # From anyone else, X-Forwarded-For is not believed: the peer itself is counted.
    stranger = {"REMOTE_ADDR": "203.0.113.9"}
    assert (
        sign_up(client, "dan", HTTP_X_FORWARDED_FOR="198.51.100.3", **stranger).status_code == 302
    )
    client.logout()
    assert (
        sign_up(client, "eve", HTTP_X_FORWARDED_FOR="198.51.100.4", **stranger).status_code == 429
    )
