"""Repeated failed logins lock that username out from that address, on the site and the admin."""

import time

import pytest

pytestmark = pytest.mark.django_db

SITE = "/accounts/login/"
ADMIN = "/admin/login/"


@pytest.fixture
def lockout(settings) -> None:
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_LOCKOUT = 600


def log_in(client, url: str, username: str, password: str, address: str = "198.51.100.7"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(client, url: str, username: str, times: int, address: str = "198.51.100.7") -> None:
    for _ in range(times):
        assert log_in(client, url, username, "wrong", address).status_code == 200


@pytest.mark.parametrize("url", [SITE, ADMIN])
def test_the_right_password_is_refused_with_429_after_too_many_wrong_ones(
    client, make_user, password, lockout, url
):
    make_user(username="ann", is_staff=True)
    fail(client, url, "ann", 3)

    response = log_in(client, url, "ann", password)

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert 0 < int(response["Retry-After"]) <= 600
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("url", [SITE, ADMIN])
def test_a_locked_out_login_is_accepted_after_the_cool_off(
    client, make_user, password, lockout, monkeypatch, url
):
    ann = make_user(username="ann", is_staff=True)
    fail(client, url, "ann", 3)
    assert log_in(client, url, "ann", password).status_code == 429

    later = time.time() + 601
    monkeypatch.setattr("website.logins.time.time", lambda: later)
    monkeypatch.setattr("website.views.time.time", lambda: later)

    assert log_in(client, url, "ann", password).status_code == 302
    assert client.session["_auth_user_id"] == str(ann.pk)


def test_the_lockout_holds_only_for_that_username_from_that_address(
    client, make_user, password, lockout
):
    make_user(username="ann")
    make_user(username="bob")
    fail(client, SITE, "ann", 3)

    assert log_in(client, SITE, "bob", password).status_code == 302
    client.logout()
    assert log_in(client, SITE, "ann", password, address="203.0.113.5").status_code == 302
    client.logout()
    assert log_in(client, SITE, "ANN", password).status_code == 429


def test_too_many_failures_from_one_address_lock_every_username_out_from_it(
    client, make_user, password, lockout, settings
):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 4
    make_user(username="zoe")
    for name in ("ann", "bob", "cat", "dan"):
        fail(client, SITE, name, 1)

    assert log_in(client, SITE, "zoe", password).status_code == 429
    assert log_in(client, SITE, "zoe", password, address="203.0.113.5").status_code == 302


def test_a_successful_login_forgets_the_failures_before_it(client, make_user, password, lockout):
    make_user(username="ann")
    fail(client, SITE, "ann", 2)
    assert log_in(client, SITE, "ann", password).status_code == 302
    client.logout()

    fail(client, SITE, "ann", 2)

    assert log_in(client, SITE, "ann", password).status_code == 302


def test_failures_behind_a_trusted_proxy_count_for_the_address_it_forwards(
    client, make_user, password, lockout, settings
):
    settings.TRUSTED_PROXIES = ["10.0.0.2"]
    make_user(username="ann")
    for _ in range(3):
        client.post(
            SITE,
            {"username": "ann", "password": "wrong"},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR="198.51.100.7",
        )

    # Another client behind the same proxy is not locked out; the one who failed is.
    other = client.post(
        SITE,
        {"username": "ann", "password": password},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="203.0.113.5",
    )
    assert other.status_code == 302
    client.logout()
    assert log_in(client, SITE, "ann", password, address="198.51.100.7").status_code == 429
