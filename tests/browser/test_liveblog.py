"""The liveblog in Chromium against a live daphne: an editor at the desk, readers watching.

Tests wait on page state (`#liveblog[data-state]`, rows in the timeline), never on a sleep.
"""

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from liveblog.services import liveblog_create, post_create
from tests.support.browser import off_loop
from tests.support.harness import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)

TIMELINE = "#timeline > li.post"

# What a reader sees: [id, text] of the timeline, pinned and key-event ids, the banner.
READ_PAGE = """() => ({
  timeline: Array.from(document.querySelectorAll('#timeline > li.post'),
    row => [Number(row.dataset.id), row.querySelector('.post-body').textContent]),
  pinned: Array.from(document.querySelectorAll('#pinned > li'), row => Number(row.dataset.id)),
  keyEvents: Array.from(document.querySelectorAll('#key-events > li'),
    row => Number(row.dataset.id)),
  title: document.title,
})"""

# Anything in the coverage that could run script.
ACTIVE_CONTENT = """() => {
  const found = [];
  for (const el of document.querySelectorAll('#liveblog *')) {
    if (['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED'].includes(el.tagName)) found.push(el.tagName);
    for (const attr of el.attributes) {
      if (attr.name.startsWith('on')) found.push(`${el.tagName} ${attr.name}`);
      if (['href', 'src'].includes(attr.name) && /^\\s*javascript:/i.test(attr.value)) {
        found.push(`${el.tagName} ${attr.name}=${attr.value}`);
      }
    }
  }
  return found;
}"""


@pytest.fixture
def open_page(new_context, daphne_server: DaphneServer, password: str) -> Iterator[Callable]:
    """`open_page(url_path, user=None, base_url=None, **context_options)` -> a live page."""

    def open_(path: str, user=None, base_url: str | None = None, **options) -> Page:
        base_url = base_url or daphne_server.url
        page = new_context(**options).new_page()
        page.dialogs = []
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.accept()))
        if user is None:
            page.goto(base_url + path)
        else:
            page.goto(f"{base_url}/accounts/login/?next={path}")
            page.get_by_label("Username").fill(user.username)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Log in").click()
        expect(page.locator("#liveblog")).to_have_attribute("data-state", "live")
        return page

    yield open_
    for context in new_context.contexts:
        context.close()


@pytest.fixture
def coverage(editor):
    return liveblog_create(title="Match day", by=editor)


def publish(page: Page, text: str, button: str = "Publish") -> None:
    page.get_by_label("Update", exact=True).fill(text)
    page.get_by_role("button", name=button, exact=True).click()
    expect(page.get_by_label("Update", exact=True)).to_have_value("")


def row(page: Page, text: str, where: str = TIMELINE):
    return page.locator(where).filter(has_text=text)


def test_an_editor_writes_while_a_reader_watches(open_page, coverage, editor):
    path = coverage.get_absolute_url()
    desk = open_page(path, editor)
    reader = open_page(path)
    expect(reader.locator("#reader-count")).to_have_text("2 reading")

    # The preview renders as publishing will.
    desk.get_by_label("Update", exact=True).fill("Kick-off, **at last**")
    expect(desk.locator("#preview strong")).to_have_text("at last")
    desk.get_by_role("button", name="Publish", exact=True).click()
    expect(row(reader, "Kick-off, at last")).to_have_count(1)

    # A draft stays on the desk until it is published.
    publish(desk, "Half-time thoughts", button="Save draft")
    expect(row(desk, "Half-time thoughts", "#drafts > li")).to_have_count(1)
    row(desk, "Half-time thoughts", "#drafts > li").get_by_role(
        "button", name="Publish now"
    ).click()
    expect(row(reader, "Half-time thoughts")).to_have_count(1)
    expect(reader.locator(TIMELINE).first).to_contain_text("Half-time thoughts")

    # Edit.
    kick_off = row(desk, "Kick-off")
    kick_off.get_by_role("button", name="Edit").click()
    desk.get_by_label("Edit update").fill("Kick-off, *finally*")
    desk.get_by_role("button", name="Save", exact=True).click()
    expect(row(reader, "Kick-off, finally")).to_contain_text("(edited)")

    # Pin, then mark as a key event.
    row(desk, "Kick-off").get_by_role("button", name="Pin").click()
    expect(reader.locator("#pinned-box")).to_be_visible()
    expect(reader.locator("#pinned > li")).to_contain_text("Kick-off, finally")
    row(desk, "Kick-off").get_by_role("button", name="Mark as key event").click()
    expect(reader.locator("#key-events-box")).to_be_visible()
    expect(reader.locator("#key-events a")).to_have_text([re.compile("Kick-off, finally")])
    reader.locator("#key-events a").click()
    post_id = row(reader, "Kick-off").get_attribute("data-id")
    expect(reader).to_have_url(re.compile(f"#post-{post_id}$"))

    # Delete: gone everywhere on the reader's page.
    row(desk, "Kick-off").get_by_role("button", name="Delete").click()
    expect(row(reader, "Kick-off")).to_have_count(0)
    expect(reader.locator("#pinned-box")).to_be_hidden()
    expect(reader.locator("#key-events-box")).to_be_hidden()
    expect(reader.locator(TIMELINE)).to_have_count(1)
    assert desk.dialogs == ["Delete this update?"]
    assert reader.dialogs == []


def test_a_reader_further_down_gets_a_banner_not_a_jump(open_page, coverage, editor):
    for n in range(1, 13):
        off_loop(post_create, liveblog=coverage, by=editor, body=f"Update {n}\n\n" + "Text. " * 80)
    path = coverage.get_absolute_url()
    desk = open_page(path, editor)
    reader = open_page(path, viewport={"width": 900, "height": 600})
    title = reader.title()
    reader.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")
    scrolled = reader.evaluate("window.scrollY")
    assert scrolled > 500
    newest_before = reader.locator(TIMELINE).first.get_attribute("data-id")

    publish(desk, "Goal!")
    publish(desk, "Another goal!")
    banner = reader.locator("#new-updates")
    expect(banner).to_have_text("2 new updates")
    expect(reader).to_have_title(f"(2) {title}")
    # Nothing moved under the reader, and nothing took their focus.
    assert reader.locator(TIMELINE).first.get_attribute("data-id") == newest_before
    assert reader.evaluate("window.scrollY") == scrolled
    assert reader.evaluate("document.activeElement === document.body")
    expect(row(reader, "Goal!")).to_have_count(0)

    banner.click()
    expect(banner).to_be_hidden()
    expect(reader).to_have_title(title)
    expect(reader.locator(TIMELINE).first).to_contain_text("Another goal!")
    expect(reader.locator(TIMELINE).nth(1)).to_contain_text("Goal!")

    # At the top, new updates come straight in.
    reader.evaluate("window.scrollTo(0, 0)")
    publish(desk, "Full time")
    expect(reader.locator(TIMELINE).first).to_contain_text("Full time")
    expect(banner).to_be_hidden()


def test_hostile_markdown_renders_inert(open_page, coverage, editor):
    path = coverage.get_absolute_url()
    desk = open_page(path, editor)
    reader = open_page(path)
    hostile = "\n\n".join(
        [
            "<script>alert('script')</script>",
            "<img src=x onerror=\"alert('img')\">",
            "[click me](javascript:alert('link'))",
            "<a href=\"javascript:alert('a')\" onclick=\"alert('a')\">raw link</a>",
            "![pic](javascript:alert('pic'))",
            "<svg onload=\"alert('svg')\"></svg>",
            "**still bold**",
        ]
    )
    desk.get_by_label("Update", exact=True).fill(hostile)
    expect(desk.locator("#preview strong")).to_have_text("still bold")
    desk.get_by_role("button", name="Publish", exact=True).click()
    expect(reader.locator(f"{TIMELINE} strong")).to_have_text("still bold")
    fresh = open_page(path)
    for page in (desk, reader, fresh):
        assert page.evaluate(ACTIVE_CONTENT) == []
        assert page.dialogs == []
    # The raw HTML is shown as the text it is.
    expect(reader.locator(TIMELINE).first).to_contain_text("<script>alert('script')</script>")


def test_a_reader_cut_off_catches_up_to_a_fresh_load(
    open_page, coverage, editor, daphne_server, proxy_to
):
    first = off_loop(post_create, liveblog=coverage, by=editor, body="Before the outage")
    proxy = proxy_to(daphne_server.port)
    path = coverage.get_absolute_url()
    desk = open_page(path, editor)
    reader = open_page(path, base_url=proxy.url)

    assert proxy.cut() >= 1, "the reader's socket did not go through the proxy"
    expect(reader.locator("#liveblog")).to_have_attribute("data-state", "reconnecting")
    for n in range(1, 4):
        publish(desk, f"While you were away {n}")
    row(desk, "While you were away 2").get_by_role("button", name="Delete").click()
    row(desk, "Before the outage").get_by_role("button", name="Edit").click()
    desk.get_by_label("Edit update").fill("Before the outage (corrected)")
    desk.get_by_role("button", name="Save", exact=True).click()
    row(desk, "While you were away 3").get_by_role("button", name="Pin").click()
    row(desk, "While you were away 1").get_by_role("button", name="Mark as key event").click()
    expect(desk.locator("#key-events > li")).to_have_count(1)
    assert reader.evaluate(READ_PAGE)["timeline"] == [[first.pk, "Before the outage"]]

    proxy.resume()
    expect(reader.locator("#liveblog")).to_have_attribute("data-state", "live")
    expect(reader.locator(TIMELINE)).to_have_count(3)
    expect(reader.locator("#key-events > li")).to_have_count(1)
    fresh = open_page(path)
    seen, expected = reader.evaluate(READ_PAGE), fresh.evaluate(READ_PAGE)
    assert seen == expected
    assert [text for _id, text in expected["timeline"]] == [
        "While you were away 3",
        "While you were away 1",
        "Before the outage (corrected)",
    ]
    assert len(expected["pinned"]) == 1 and len(expected["keyEvents"]) == 1
