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


def test_a_new_account_is_welcomed_and_told_what_to_do_next(page: Page, live_server_url: str):
    page.goto(f"{live_server_url}/accounts/signup/")
    page.get_by_label("Username").fill("newcomer")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    expect(page.locator(".flash")).to_have_text("Welcome, newcomer! Your account is ready.")
    page.get_by_role("link", name="Set your name").click()
    page.get_by_label("Display name").fill("New Comer")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".whoami")).to_have_text("Signed in as New Comer")


def test_opening_a_room_signed_out_lands_on_a_login_that_says_why(
    page: Page, live_server_url: str, make_user, password: str
):
    ann = make_user(username="ann")
    room = off_loop(room_create, name="Lobby", created_by=ann)

    page.goto(f"{live_server_url}/chat/{room.slug}/")

    expect(page.get_by_text("Log in to join the chat in Lobby.")).to_be_visible()
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    wait_live(page)


def test_a_forgotten_password_is_reset_from_a_mailed_link(
    new_context, daphne_factory, make_user, tmp_path
):
    mailbox = tmp_path / "mail"
    server = daphne_factory(TEST_EMAIL_DIR=str(mailbox))
    make_user(username="ann", email="ann@example.org")
    page = new_context().new_page()
    page.goto(f"{server.url}/accounts/login/")

    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("ann@example.org")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    # The mail is written before the page that says it was sent.
    (mail,) = mailbox.iterdir()
    link = re.search(r"http://\S+/accounts/password/reset/\S+/", mail.read_text())[0]
    page.goto(link)
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_role("heading", name="Password set")).to_be_visible()

    page.get_by_role("link", name="Log in").last.click()
    page.get_by_label("Username").fill("ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".whoami")).to_have_text("Signed in as ann")


def test_changing_the_password_signs_out_the_other_browser(
    new_context, live_server_url: str, make_user, password: str
):
    ann = make_user(username="ann")
    room = off_loop(room_create, name="Lobby", created_by=ann)
    pages = []
    for _ in range(2):
        page = new_context().new_page()
        page.goto(f"{live_server_url}/accounts/login/?next=/chat/{room.slug}/")
        page.get_by_label("Username").fill("ann")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        pages.append(wait_live(page))
    laptop, phone = pages

    laptop.get_by_role("navigation", name="Main").locator(".whoami a").click()
    laptop.get_by_role("link", name="Change password").click()
    laptop.get_by_label("Old password").fill(password)
    laptop.get_by_label("New password", exact=True).fill(PASSWORD)
    laptop.get_by_label("New password confirmation").fill(PASSWORD)
    laptop.get_by_role("button", name="Change password").click()
    expect(laptop.get_by_role("heading", name="Password changed")).to_be_visible()

    expect(phone.locator("#room")).to_have_attribute("data-state", "signed-out")
    phone.reload()
    expect(phone.get_by_role("heading", name="Log in")).to_be_visible()
    expect(laptop.locator(".whoami")).to_have_text("Signed in as ann")
