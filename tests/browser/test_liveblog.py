"""The liveblog in Chromium against a live daphne: an editor at the desk, readers watching.

Tests wait on page state (`#liveblog[data-state]`, rows in the timeline), never on a sleep.
"""

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from liveblog.models import Post
from liveblog.selectors import PAGE
from liveblog.services import liveblog_create, liveblog_update, post_create
from tests.support.browser import off_loop
from tests.support.harness import DaphneServer
from tests.support.stack import ON_REDIS_STACK

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


def test_older_updates_loaded_on_request_appear_in_place_not_as_new(open_page, coverage, editor):
    for n in range(1, PAGE + 6):
        off_loop(post_create, liveblog=coverage, by=editor, body=f"Update {n}\n\n" + "Text. " * 40)
    reader = open_page(coverage.get_absolute_url(), viewport={"width": 900, "height": 600})
    title = reader.title()
    expect(reader.locator(TIMELINE)).to_have_count(PAGE)
    older = reader.get_by_role("link", name="Load older updates")
    older.scroll_into_view_if_needed()
    older.click()
    expect(reader.locator(TIMELINE)).to_have_count(PAGE + 5)
    expect(reader.locator(TIMELINE).last).to_contain_text("Update 1")
    expect(reader.locator("#new-updates")).to_be_hidden()
    expect(reader).to_have_title(title)
    expect(older).to_be_hidden()


def test_an_editor_ends_after_confirming_and_can_reopen(open_page, coverage, editor):
    path = coverage.get_absolute_url()
    desk = open_page(path, editor)
    reader = open_page(path)
    expect(reader.locator("#live-badge")).to_be_visible()

    desk.get_by_role("link", name="End this liveblog…").click()
    expect(desk.get_by_role("heading", name="End “Match day”?")).to_be_visible()
    desk.get_by_role("link", name="Cancel, keep it live").click()
    expect(desk.locator("#liveblog")).to_have_attribute("data-state", "live")
    expect(desk.locator("#live-badge")).to_be_visible()

    desk.get_by_role("link", name="End this liveblog…").click()
    desk.get_by_role("button", name="End the liveblog").click()
    expect(desk.locator("#ended-badge")).to_be_visible()
    expect(desk.locator("#live-badge")).to_be_hidden()
    expect(reader.locator("#ended-badge")).to_be_visible()
    expect(reader.locator("#live-badge")).to_be_hidden()
    expect(reader.get_by_role("button", name="Reopen this liveblog")).to_have_count(0)

    desk.get_by_role("button", name="Reopen this liveblog").click()
    expect(desk.get_by_label("Update", exact=True)).to_be_visible()
    expect(reader.locator("#live-badge")).to_be_visible()
    expect(reader.locator("#ended-badge")).to_be_hidden()
    publish(desk, "Back on")
    expect(row(reader, "Back on")).to_have_count(1)


def test_the_header_shows_one_status(open_page, coverage, editor):
    path = coverage.get_absolute_url()
    reader = open_page(path)
    # The red LIVE badge is the blog's state; the connection says nothing while updates arrive.
    expect(reader.locator("#live-badge")).to_be_visible()
    expect(reader.locator("#connection-state")).to_be_hidden()
    off_loop(liveblog_update, liveblog=coverage, by=editor, ended=True)
    fresh = open_page(path)
    expect(fresh.locator("#ended-badge")).to_be_visible()
    expect(fresh.locator("#live-badge")).to_be_hidden()


def test_without_javascript_nothing_claims_a_connection(
    new_context, daphne_server, coverage, editor
):
    off_loop(post_create, liveblog=coverage, by=editor, body="Kick-off")
    page = new_context(java_script_enabled=False).new_page()
    page.goto(daphne_server.url + coverage.get_absolute_url())
    expect(row(page, "Kick-off")).to_have_count(1)
    expect(page.locator(".liveblog-status")).not_to_contain_text("Connecting")
    # Playwright turns script off after parsing, so Chromium keeps <noscript> unrendered here;
    # a browser with JavaScript off shows it.
    assert "<noscript>" in page.locator(".liveblog-status").inner_html()
    expect(page.locator("#live-badge")).to_be_visible()


# Each timeline row's time: [text, title, datetime, the relative time].
READ_TIMES = """() => Array.from(document.querySelectorAll('#timeline > li.post'), row => {
  const time = row.querySelector('.post-time time');
  return [time.textContent, time.title, time.dateTime,
          row.querySelector('.post-ago').textContent];
})"""
# The shape of a row's header: each child's tag and class.
READ_META = """() => Array.from(document.querySelectorAll('#timeline > li.post'), row =>
  Array.from(row.querySelector('.post-meta').children, el => `${el.tagName}.${el.className}`))"""


def test_times_show_the_date_and_how_long_ago_in_the_readers_zone(
    open_page, new_context, daphne_server, coverage, editor
):
    recent = off_loop(post_create, liveblog=coverage, by=editor, body="Recent")
    older = off_loop(post_create, liveblog=coverage, by=editor, body="Two days ago")
    now = timezone.now()
    recent_at, older_at = now - timedelta(minutes=5, seconds=10), now - timedelta(days=2)
    off_loop(lambda: Post.objects.filter(pk=recent.pk).update(published_at=recent_at))
    off_loop(lambda: Post.objects.filter(pk=older.pk).update(published_at=older_at))
    path = coverage.get_absolute_url()

    tokyo = ZoneInfo("Asia/Tokyo")
    reader = new_context(timezone_id="Asia/Tokyo").new_page()
    reader.clock.install()
    reader.goto(daphne_server.url + path)
    expect(reader.locator("#liveblog")).to_have_attribute("data-state", "live")
    at, then = recent_at.astimezone(tokyo), older_at.astimezone(tokyo)
    times = reader.evaluate(READ_TIMES)
    assert [t[0] for t in times] == [f"{at:%H:%M}", f"{then.day} {then:%b %H:%M}"]
    assert [t[1] for t in times] == [
        f"{at:%A} {at.day} {at:%B %Y, %H:%M}",
        f"{then:%A} {then.day} {then:%B %Y, %H:%M}",
    ]
    assert [t[3] for t in times] == ["5 min ago", "2 d ago"]
    # "5 min ago" moves on by itself.
    reader.clock.run_for("05:00")
    expect(reader.locator(".post-ago").first).to_have_text("10 min ago")

    # Server-rendered (no script) and script-rendered rows look the same, in one zone.
    plain = new_context(java_script_enabled=False, timezone_id="UTC").new_page()
    plain.goto(daphne_server.url + path)
    scripted = open_page(path, timezone_id="UTC")
    assert scripted.evaluate(READ_TIMES) == plain.evaluate(READ_TIMES)
    desk = open_page(path, editor, timezone_id="UTC")
    publish(desk, "Live now")
    expect(row(scripted, "Live now")).to_have_count(1)
    expect(row(scripted, "Live now").locator(".post-ago")).to_have_text("just now")
    plain.reload()
    assert scripted.evaluate(READ_META) == plain.evaluate(READ_META)
    assert scripted.evaluate(READ_TIMES)[0][1:3] == plain.evaluate(READ_TIMES)[0][1:3]


def test_a_time_typed_for_schedule_is_never_dropped(open_page, coverage, editor):
    desk = open_page(coverage.get_absolute_url(), editor)
    when = desk.get_by_label("Schedule for")
    # The date input looks like the other fields.
    style = """el => { const s = getComputedStyle(el);
      return [s.borderTopWidth, s.borderTopStyle, s.borderTopColor, s.borderRadius, s.padding]; }"""
    assert when.evaluate(style) == desk.get_by_label("Update", exact=True).evaluate(style)

    desk.get_by_label("Update", exact=True).fill("Later on")
    when.fill("2099-01-01T12:00")
    desk.get_by_role("button", name="Publish", exact=True).click()
    errors = desk.locator("#composer-errors")
    expect(errors).to_contain_text("press Schedule")
    expect(desk.locator("#drafts > li, #timeline > li")).to_have_count(0)
    # Once the editor changes what was refused, the error no longer stands.
    when.fill("")
    expect(errors).to_have_text("")
    desk.get_by_role("button", name="Publish", exact=True).click()
    expect(row(desk, "Later on")).to_have_count(1)


def test_pinning_tells_the_editor_it_replaces_the_pinned_post(open_page, coverage, editor):
    off_loop(post_create, liveblog=coverage, by=editor, body="Line-ups", pinned=True)
    headline = "## Salah scores\n\nA long run from halfway. " + "Then a shot. " * 20
    off_loop(post_create, liveblog=coverage, by=editor, body=headline, key_event=True)
    desk = open_page(coverage.get_absolute_url(), editor)
    expect(desk.locator("#key-events a")).to_have_text([re.compile(r"^\S+ Salah scores$")])
    pin = row(desk, "Salah scores").get_by_role("button", name="Pin (replaces the pinned post)")
    expect(row(desk, "Line-ups").get_by_role("button", name="Unpin")).to_have_count(1)
    pin.click()
    expect(desk.locator("#desk-notice")).to_contain_text("no longer pinned")
    expect(desk.locator("#pinned > li")).to_contain_text("Salah scores")
    # Now the other post's button says what pressing it would replace.
    expect(
        row(desk, "Line-ups").get_by_role("button", name="Pin (replaces the pinned post)")
    ).to_have_count(1)
    row(desk, "Salah scores").get_by_role("button", name="Unpin").click()
    expect(row(desk, "Line-ups").get_by_role("button", name="Pin", exact=True)).to_have_count(1)


@pytest.mark.skipif(ON_REDIS_STACK, reason="with Redis the worker's broadcast reaches every page")
def test_a_scheduled_post_reaches_an_open_page_on_time_on_the_embedded_default(
    open_page, daphne_factory, coverage, editor
):
    # As under `make run`: one daphne on the in-memory layer, which publishes on time itself.
    server = daphne_factory(LIVEBLOG_SCHEDULER_IN_SERVER="true")
    reader = open_page(coverage.get_absolute_url(), base_url=server.url)
    due = timezone.now() + timedelta(seconds=1)
    off_loop(
        post_create,
        liveblog=coverage,
        by=editor,
        body="On the hour",
        state=Post.State.SCHEDULED,
        publish_at=due,
    )
    # Well inside the page's 20 s keep-alive, which alone would bring it otherwise.
    expect(row(reader, "On the hour")).to_have_count(1, timeout=10_000)


# The text of every region a screen reader speaks from when it changes.
LIVE_REGIONS = """() => [...document.querySelectorAll([
  '[aria-live]:not([aria-live="off"])',
  '[role="log"]:not([aria-live="off"])',
  '[role="status"]',
  '[role="alert"]',
].join(", "))].map(node => node.textContent)"""


def test_each_new_update_is_announced_once_and_older_ones_never(open_page, coverage, editor):
    for n in range(1, PAGE + 3):
        off_loop(post_create, liveblog=coverage, by=editor, body=f"Earlier update {n}.")
    path = coverage.get_absolute_url()
    desk = open_page(path, editor)
    reader = open_page(path, viewport={"width": 900, "height": 600})
    reader.get_by_role("link", name="Load older updates").click()
    expect(row(reader, "Earlier update 1.")).to_have_count(1)
    assert not [text for text in reader.evaluate(LIVE_REGIONS) if "Earlier" in text]

    # At the top the update goes straight in; further down it waits behind the
    # banner. Either way it is said once, and the banner's count is not said.
    reader.evaluate("window.scrollTo(0, 0)")
    publish(desk, "Kick-off")
    expect(row(reader, "Kick-off")).to_have_count(1)
    expect(reader.locator("#announcer > p")).to_have_text(["New update: Kick-off"])
    reader.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    publish(desk, "Goal!")
    expect(reader.locator("#new-updates")).to_have_text("1 new update")
    expect(reader.locator("#announcer > p")).to_have_text(
        ["New update: Kick-off", "New update: Goal!"]
    )
    spoken = [text for text in reader.evaluate(LIVE_REGIONS) if "Goal" in text or "new upd" in text]
    assert spoken == ["New update: Kick-offNew update: Goal!"]
