"""Every page through axe-core, at a desktop and a phone size, in the light and dark themes.

One walk per size: one context, one page, the demo data and a busy room. Each page
is opened once and checked in both themes (the colour scheme switches in place).
A walk checks every page and then fails with every violation it met, each with its
rule, impact, the elements and what axe says to fix, so one run shows them all.

The walk also keeps screenshots of the main pages, in $SCREENSHOT_DIR or
tests/browser/screenshots/ (never committed; docs/screenshots/ holds the chosen few).
"""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from chat import services as chat_services
from tests.support.axe import AXE_JS
from tests.support.browser import off_loop, wait_live
from tests.support.harness import DaphneServer
from website import tutorial
from website.management.commands.load_demo_data import DEMO_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
THEMES = ["light", "dark"]
# The pages a walk keeps pictures of, and the names of their files.
SCREENSHOT_PAGES = {
    "home": "home",
    "login": "login",
    "liveblog as reader": "liveblog",
    "room list": "room-list",
    "room with 50 messages": "room",
}
ROOT = Path(__file__).resolve().parents[2]
# Not under test-results/: pytest-playwright empties that at the start of every run.
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR") or ROOT / "tests" / "browser" / "screenshots")

# axe's result, cut to what a report needs.
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
  }));
}"""


# A conversation to repeat: (author, body), markup, mentions and emoji among them.
CONVERSATION = [
    ("alice", "Morning! Is the *deploy* done? ☕"),
    ("bob", "Nearly: the migrations ran, `make check-deploy` is green."),
    ("bob", "Restarting the socket servers one at a time now."),
    ("carol", "@bob the liveblog readers reconnected without a gap 🎉"),
    ("alice", "Nice. Anyone seen the dashboard? https://example.com/status"),
    ("carol", "All green here. Lunch? 🍜"),
]


def busy_room() -> str:
    """A public room of 50 messages, the last five unread by alice; its path."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.in_bulk(["alice", "bob", "carol"], field_name="username")
    room = chat_services.room_create(name="Busy", created_by=users["alice"])
    messages = [
        chat_services.message_create(
            room=room,
            author=users[author],
            body=body,
            client_id=f"busy-{number}",
        )[0]
        for number, (author, body) in (
            (number, CONVERSATION[number % len(CONVERSATION)]) for number in range(50)
        )
    ]
    chat_services.read_mark(room=room, user=users["alice"], seq=messages[44].seq)
    return room.get_absolute_url()


@pytest.fixture
def demo_site(daphne_server: DaphneServer) -> dict[str, str]:
    """The demo data and a busy room on the live server; the paths the walk visits."""
    off_loop(call_command, command_name="load_demo_data", verbosity=0)
    # The first is the contents at /learn/ itself.
    first_chapter = tutorial.chapter_list()[1]
    return {"room": off_loop(busy_room), "chapter": first_chapter.url}


def check(page: Page, found: list[str], label: str) -> None:
    """Run axe on the page as it is and add its violations, readably, to `found`."""
    for violation in page.evaluate(RUN_AXE):
        found.append(f"{label}: {violation['id']} [{violation['impact']}] {violation['help']}")
        # Elements failing the same way share one summary: fifty rows, one explanation.
        targets_by_summary: dict[str, list[str]] = {}
        for node in violation["nodes"]:
            targets_by_summary.setdefault(node["summary"], []).append(node["target"])
        for summary, targets in targets_by_summary.items():
            more = f" and {len(targets) - 5} more" if len(targets) > 5 else ""
            found.append(f"    {', '.join(targets[:5])}{more}")
            found.extend(f"      {line}" for line in summary.splitlines())


def sign_in_as(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()


@pytest.mark.parametrize("size", SIZES)
def test_every_page_passes_axe_in_both_themes(
    new_context: Callable, daphne_server: DaphneServer, demo_site: dict, size: str
) -> None:
    assert AXE_JS.is_file(), f"{AXE_JS} is missing: run `make axe-core`"
    base = daphne_server.url
    # bypass_csp: the page's CSP (script-src 'self') would refuse the injected axe.
    context = new_context(viewport=SIZES[size], bypass_csp=True, reduced_motion="reduce")
    context.add_init_script(path=AXE_JS)
    page = context.new_page()
    found: list[str] = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def visit(name: str, path: str, ready: Callable[[Page], object] | None = None) -> None:
        """Open the page once; check it, and keep a picture of it, in each theme."""
        page.goto(base + path)
        if ready is not None:
            ready(page)
        check_both_themes(name, path)

    def check_both_themes(name: str, path: str) -> None:
        for theme in THEMES:
            page.emulate_media(color_scheme=theme)
            check(page, found, f"{name} {path} ({size}, {theme})")
            if name in SCREENSHOT_PAGES:
                slug = SCREENSHOT_PAGES[name]
                page.screenshot(path=SCREENSHOTS / f"{slug}-{size}-{theme}.png")

    def liveblog_live(page: Page) -> None:
        expect(page.locator("#liveblog")).to_have_attribute("data-state", "live")

    visit("home", "/")
    visit("login", "/accounts/login/")
    visit("sign-up", "/accounts/signup/")
    # A taken name and passwords that differ: an error under each field.
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password", exact=True).fill("one-pass-word")
    page.get_by_label("Password confirmation").fill("another-pass-word")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator(".field-error").first).to_be_visible()
    check_both_themes("sign-up with errors", "/accounts/signup/")
    visit("learn", "/learn/")
    visit("learn chapter", demo_site["chapter"])
    visit("learn source", "/learn/source/project/asgi.py")
    visit("liveblog list", "/live/")
    visit("liveblog as reader", "/live/release-day/", liveblog_live)

    sign_in_as(page, base, "alice")
    visit("room list", "/chat/")
    visit("room with 50 messages", demo_site["room"], wait_live)
    sign_out(page)

    sign_in_as(page, base, "carol")
    visit("liveblog as editor", "/live/release-day/", liveblog_live)

    if found:
        pytest.fail("axe found violations:\n" + "\n".join(found), pytrace=False)
