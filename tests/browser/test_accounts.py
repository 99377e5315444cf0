"""Sign up, log out and log in again, in Chromium against a live daphne; a log-out ends sockets."""

import re

import pytest
from playwright.sync_api import Page, expect

from chat.services import room_create
from tests.support.browser import off_loop, wait_live

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-enough-Pass-phrase-42"


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_have_count(0)


def test_sign_up_log_out_and_log_in_again(page: Page, live_server_url: str):
    page.goto(f"{live_server_url}/accounts/signup/")
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    expect(page.locator(".whoami")).to_have_text("Signed in as newcomer")
    log_out(page)

    page.goto(f"{live_server_url}/accounts/login/")
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".whoami")).to_have_text("Signed in as newcomer")
    log_out(page)


def test_logging_out_in_one_tab_ends_the_room_socket_in_another(
    new_context, live_server_url: str, make_user, password: str
):
    ann = make_user(username="ann")
    room = off_loop(room_create, name="Signed in only", created_by=ann)
    context = new_context()
    room_tab = context.new_page()
    room_tab.goto(f"{live_server_url}/accounts/login/?next=/chat/{room.slug}/")
    room_tab.get_by_label("Username").fill(ann.username)
    room_tab.get_by_label("Password").fill(password)
    room_tab.get_by_role("button", name="Log in").click()
    wait_live(room_tab)

    other_tab = context.new_page()
    other_tab.goto(f"{live_server_url}/")
    log_out(other_tab)

    expect(room_tab.locator("#room")).to_have_attribute("data-state", "signed-out")
    expect(room_tab.locator("#connection-state")).to_have_text(re.compile("signed out"))
