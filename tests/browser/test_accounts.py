"""Sign up, log out and log in again, in Chromium against a live daphne."""

import re

from playwright.sync_api import Page, expect

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
