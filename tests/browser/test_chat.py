"""Chat rooms in Chromium against a live daphne: two people, a real disconnect, hostile text.

Tests wait on page state (`#room[data-state]`, rows in the log), never on a sleep.
"""

import json
import os
import re
import signal
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.templatetags.static import static
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from chat.models import Message
from chat.protocol import MAX_BODY
from chat.services import message_create, room_create
from tests.support.browser import ROWS, off_loop, rows, say, wait_live

pytestmark = pytest.mark.django_db(transaction=True)

PENDING = "#messages li.message.pending"
TOO_LONG = re.compile(f"longer than {MAX_BODY} characters")

# A second StreamSocket on a page, imported the way the pages import it, kept as window.extra.
START_EXTRA_SOCKET = """async ([url, path]) => {
  const { StreamSocket } = await import(url);
  const ignore = () => {};
  const handlers = { onEvent: ignore, onFrame: ignore, onState: ignore };
  window.extra = new StreamSocket({ path, seq: 0, ...handlers });
  window.extra.start();
}"""

# Stop it, then go back online: a socket whose listener outlived stop() would open again.
STOP_EXTRA_SOCKET = """() => {
  const Real = window.WebSocket;
  let opened = 0;
  window.WebSocket = class extends Real {
    constructor(...args) {
      super(...args);
      opened += 1;
    }
  };
  try {
    window.extra.stop();
    window.dispatchEvent(new Event("online"));
  } finally {
    window.WebSocket = Real;
  }
  return { opened, sent: window.extra.send({ type: "chat.typing" }) };
}"""

# Fixtures ----------------------------------------------------------------------


@pytest.fixture
def enter_room(sign_in) -> Callable[..., Page]:
    """`enter_room(base_url, user, slug)` -> a page of a new context, signed in and live."""
    return lambda base_url, user, slug: sign_in(user, f"/chat/{slug}/", base_url=base_url)


# Helpers -------------------------------------------------------------------------


def open_room(context: BrowserContext, base_url: str, slug: str) -> Page:
    """Another tab of an already signed-in context, live."""
    page = context.new_page()
    page.goto(f"{base_url}/chat/{slug}/")
    return wait_live(page)


def conversation(page: Page) -> list[tuple[str, str]]:
    """(author, body text) of each message, top to bottom."""
    return [(author, body) for _id, author, body in rows(page)]


def refuse_an_edit(page: Page, text: str) -> None:
    """Edit the message `text` to one the server refuses: longer than a message may be."""
    row = row_with(page, text)
    row.hover()  # a message's buttons show while the pointer is on it
    row.get_by_role("button", name="Edit").click()
    editor = page.get_by_label("Edit message")
    editor.fill("x" * (MAX_BODY + 1))  # the edit box has no maxlength; the server says no
    editor.press("Enter")


def row_with(page: Page, text: str):
    return page.locator("#messages li.message").filter(
        has=page.locator(".message-body", has_text=text)
    )


# Tests ---------------------------------------------------------------------------


# region: two-people-chat-live
def test_two_people_chat_live(enter_room, daphne_server, ann, bob):
    room = off_loop(room_create, name="Two people", created_by=ann)
    page_a = enter_room(daphne_server.url, ann, room.slug)
    page_b = enter_room(daphne_server.url, bob, room.slug)

    log_a = page_a.get_by_role("log", name="Conversation")
    log_b = page_b.get_by_role("log", name="Conversation")
    expect(page_a.locator("#presence li")).to_have_text(["ann (you)", "bob"])
    expect(page_b.locator("#presence li")).to_have_text(["ann", "bob (you)"])

    say(page_a, "Hello from ann")
    expect(log_b.locator(".message-body")).to_have_text(["Hello from ann"])
    # endregion
    say(page_b, "Hi ann, bob here")
    expected = [("ann", "Hello from ann"), ("bob", "Hi ann, bob here")]
    for log in (log_a, log_b):
        expect(log.locator("li.message[data-id] .message-author")).to_have_text(["ann", "bob"])
        expect(log.locator("li.message[data-id] .message-body")).to_have_text(
            [body for _author, body in expected]
        )
    # Neither waits for the other's echo: the server picks the order and both see that one.
    say(page_a, "ann again")
    say(page_b, "bob again")
    for page in (page_a, page_b):
        expect(page.locator(ROWS)).to_have_count(4)
        expect(page.locator(PENDING)).to_have_count(0)
    stored = [
        (message.author.username, message.body)
        for message in Message.objects.filter(room=room).order_by("seq")
    ]
    assert conversation(page_a) == stored
    assert conversation(page_b) == stored
    assert stored[:2] == expected
    assert sorted(stored[2:]) == [("ann", "ann again"), ("bob", "bob again")]


def test_a_reconnect_shows_what_a_fresh_load_shows(enter_room, daphne_server, proxy_to, ann, bob):
    room = off_loop(room_create, name="Flaky network", created_by=ann)
    off_loop(message_create, room=room, author=bob, body="Before anyone came", client_id="seed-1")
    proxy = proxy_to(daphne_server.port)

    # ann reaches the app only through the proxy; bob talks to daphne directly.
    page_a = enter_room(proxy.url, ann, room.slug)
    page_b = enter_room(daphne_server.url, bob, room.slug)
    page_b.on("dialog", lambda dialog: dialog.accept())
    expect(page_a.locator("#presence li")).to_have_text(["ann (you)", "bob"])
    expect(page_b.locator("#presence li")).to_have_text(["ann", "bob (you)"])

    assert proxy.cut() >= 1, "ann's socket did not go through the proxy"
    expect(page_a.locator("#room")).to_have_attribute("data-state", "reconnecting")
    # daphne saw ann's socket close, not just the browser.
    expect(page_b.locator("#presence li")).to_have_text(["bob (you)"])

    offline_text = "Written while the network was down"
    say(page_a, offline_text)
    expect(page_a.locator(PENDING)).to_have_count(1)
    expect(page_a.locator(PENDING).locator(".message-body")).to_have_text(offline_text)

    for n in range(1, 6):
        say(page_b, f"bob's message {n}")
        expect(page_b.locator(ROWS)).to_have_count(1 + n)
    doomed = row_with(page_b, "bob's message 3")
    doomed_id = int(doomed.get_attribute("data-id"))
    doomed.hover()
    doomed.get_by_role("button", name="Delete").click()
    deleted_b = page_b.locator(f'li.message[data-id="{doomed_id}"] .message-body')
    expect(deleted_b).to_have_text("Message deleted")
    # Still cut off: ann's page has none of it yet.
    expect(page_a.locator("#room")).to_have_attribute("data-state", "reconnecting")
    assert len(rows(page_a)) == 1

    proxy.resume()
    wait_live(page_a)
    expect(page_a.locator(PENDING)).to_have_count(0)
    expect(page_a.locator(ROWS)).to_have_count(7)  # seed + 5 from bob + ann's queued one
    expect(page_b.locator(ROWS)).to_have_count(7)
    expect(page_b.locator("#presence li")).to_have_text(["ann", "bob (you)"])

    fresh = open_room(page_a.context, daphne_server.url, room.slug)
    expect(fresh.locator(ROWS)).to_have_count(7)
    seen_a, seen_b, seen_fresh = rows(page_a), rows(page_b), rows(fresh)
    assert seen_a == seen_fresh
    assert seen_b == seen_fresh
    assert [(author, body) for _id, author, body in seen_fresh] == [
        ("bob", "Before anyone came"),
        ("bob", "bob's message 1"),
        ("bob", "bob's message 2"),
        ("bob", "Message deleted"),
        ("bob", "bob's message 4"),
        ("bob", "bob's message 5"),
        ("ann", offline_text),
    ]
    for page in (page_a, page_b, fresh):
        ids = [message_id for message_id, _author, _body in rows(page)]
        assert len(ids) == len(set(ids)), f"a message shown twice: {ids}"
        expect(page.locator(f'li.message[data-id="{doomed_id}"] .message-body')).to_have_text(
            "Message deleted"
        )
        expect(row_with(page, offline_text)).to_have_count(1)
        expect(page.get_by_text("bob's message 3")).to_have_count(0)
    assert Message.objects.filter(room=room, body=offline_text).count() == 1
    assert Message.objects.get(pk=doomed_id).is_deleted


def test_message_text_is_never_markup(enter_room, daphne_server, ann, bob):
    room = off_loop(room_create, name="Hostile text", created_by=ann)
    page_a = enter_room(daphne_server.url, ann, room.slug)
    page_b = enter_room(daphne_server.url, bob, room.slug)
    dialogs: list[str] = []
    for context in (page_a.context, page_b.context):  # every page, the reloaded one too
        context.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    hostile = [
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        "[click](javascript:alert(1))",
        "[shout](JAVASCRIPT:alert(1)) <svg onload=alert(1)>",
    ]
    for text in hostile:
        say(page_a, text)
    # Once more from the server-rendered history, not only from live frames.
    reloaded = open_room(page_b.context, daphne_server.url, room.slug)

    for page in (page_a, page_b, reloaded):
        messages = page.locator("#messages")
        expect(page.locator(ROWS)).to_have_count(len(hostile))
        expect(page.locator(f"{ROWS} .message-body")).to_have_text(hostile)
        expect(messages.locator("img, script, svg, iframe")).to_have_count(0)
        expect(messages.locator('a[href^="javascript" i]')).to_have_count(0)
        expect(messages.locator("[onerror], [onload]")).to_have_count(0)
        # markdown-it refuses these links outright: no link at all, not a defanged one.
        expect(messages.locator("a")).to_have_count(0)
    assert dialogs == []


def test_a_stopped_socket_closes_for_good(enter_room, daphne_server, ann, bob):
    room = off_loop(room_create, name="Watched", created_by=bob)
    elsewhere = off_loop(room_create, name="Elsewhere", created_by=ann)
    page_b = enter_room(daphne_server.url, bob, room.slug)
    page_a = enter_room(daphne_server.url, ann, elsewhere.slug)
    presence_b = page_b.locator("#presence li")
    expect(presence_b).to_have_text(["bob (you)"])

    page_a.evaluate(START_EXTRA_SOCKET, [static("js/stream.js"), f"/ws/chat/{room.slug}/"])
    expect(presence_b).to_have_text(["ann", "bob (you)"])

    assert page_a.evaluate(STOP_EXTRA_SOCKET) == {"opened": 0, "sent": False}
    # daphne saw the socket close.
    expect(presence_b).to_have_text(["bob (you)"])
    # The page's own socket is untouched.
    expect(page_a.locator("#room")).to_have_attribute("data-state", "live")


def test_a_refused_edit_stays_on_screen_until_the_next_success_or_a_dismiss(
    enter_room, daphne_server, ann
):
    room = off_loop(room_create, name="Refusals", created_by=ann)
    signed_in = enter_room(daphne_server.url, ann, room.slug)
    # Fake timers from the first script on: the test runs the typing line's refresh itself.
    signed_in.context.clock.install()
    page = open_room(signed_in.context, daphne_server.url, room.slug)
    signed_in.close()
    error, error_box = page.get_by_role("alert"), page.locator("#chat-error-box")
    expect(error_box).to_be_hidden()
    say(page, "Short and sweet")
    expect(page.locator(PENDING)).to_have_count(0)

    refuse_an_edit(page, "Short and sweet")
    expect(error).to_have_text(TOO_LONG)
    page.clock.run_for(2500)  # the typing line redraws every second
    expect(error).to_have_text(TOO_LONG)
    expect(error).to_be_visible()
    expect(page.locator("#typing")).to_have_text("")
    expect(row_with(page, "Short and sweet")).to_have_count(1)

    # The next message that goes through clears it.
    say(page, "Shorter")
    expect(page.locator(PENDING)).to_have_count(0)
    expect(error_box).to_be_hidden()
    expect(page.locator("#chat-error")).to_have_text("")

    refuse_an_edit(page, "Shorter")
    expect(error).to_have_text(TOO_LONG)
    page.get_by_role("button", name="Dismiss").click()
    expect(error_box).to_be_hidden()


def test_rooms_named_in_cyrillic_and_chinese_are_created_and_chatted_in(
    enter_room, new_context, daphne_server, ann, bob, password
):
    page_a = new_context().new_page()
    page_a.goto(f"{daphne_server.url}/accounts/login/?next=/chat/")
    page_a.get_by_label("Username").fill(ann.username)
    page_a.get_by_label("Password").fill(password)
    page_a.get_by_role("button", name="Log in").click()
    for name, slug in (("Ночные совы", "ночные-совы"), ("中文聊天室", "中文聊天室")):
        page_a.goto(f"{daphne_server.url}/chat/")
        page_a.get_by_label("Name").fill(name)
        page_a.get_by_role("button", name="Create room").click()
        wait_live(page_a)
        expect(page_a.get_by_role("heading", level=1)).to_have_text(name)
        assert page_a.url == f"{daphne_server.url}/chat/{quote(slug)}/"
        page_b = enter_room(daphne_server.url, bob, slug)

        say(page_a, f"Привет, 你好 from {slug}")
        say(page_b, "здравствуй")

        for page in (page_a, page_b):
            expect(page.locator(ROWS)).to_have_count(2)
            assert conversation(page) == [
                ("ann", f"Привет, 你好 from {slug}"),
                ("bob", "здравствуй"),
            ]


# Sends the server fails on, and sends it refuses for good ----------------------------------------


class Frames:
    """What one page's sockets sent and received, each frame parsed, in order."""

    def __init__(self, page: Page) -> None:
        self.sent: list[dict] = []
        self.received: list[dict] = []
        page.on("websocket", self.watch)

    def watch(self, socket) -> None:
        socket.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        socket.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def sends(self, body: str) -> list[dict]:
        return [f for f in self.sent if f["type"] == "chat.send" and f["body"] == body]


def watched_room(context: BrowserContext, base_url: str, slug: str) -> tuple[Page, Frames]:
    """A live tab of a signed-in context whose every frame, from the first, is kept."""
    page = context.new_page()
    frames = Frames(page)
    page.goto(f"{base_url}/chat/{slug}/")
    return wait_live(page), frames


# A real fault: while this trigger exists, the database refuses every new message.
REFUSE_MESSAGES = {
    "sqlite": [
        "CREATE TRIGGER refuse_messages BEFORE INSERT ON chat_message"
        " BEGIN SELECT RAISE(ABORT, 'the database refuses messages'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_messages() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'the database refuses messages'; END $$",
        "CREATE TRIGGER refuse_messages BEFORE INSERT ON chat_message"
        " FOR EACH ROW EXECUTE FUNCTION refuse_messages()",
    ],
}
ACCEPT_MESSAGES = {
    "sqlite": ["DROP TRIGGER refuse_messages"],
    "postgresql": [
        "DROP TRIGGER refuse_messages ON chat_message",
        "DROP FUNCTION refuse_messages()",
    ],
}


def run_sql(statements: dict[str, list[str]]) -> None:
    with connection.cursor() as cursor:
        for statement in statements[connection.vendor]:
            cursor.execute(statement)


def test_a_send_the_server_failed_on_is_retried_with_its_client_id_and_shown_once(
    enter_room, daphne_server, ann
):
    room = off_loop(room_create, name="Brief outage", created_by=ann)
    signed_in = enter_room(daphne_server.url, ann, room.slug)
    page, frames = watched_room(signed_in.context, daphne_server.url, room.slug)
    signed_in.close()
    pending = page.locator(PENDING)

    run_sql(REFUSE_MESSAGES)
    try:
        say(page, "Through in the end")
        expect(pending.locator(".message-time")).to_have_text("not sent yet, retrying…")
    finally:
        run_sql(ACCEPT_MESSAGES)
    expect(page.locator(ROWS)).to_have_count(1)
    expect(pending).to_have_count(0)
    expect(page.locator("#messages li.message.failed")).to_have_count(0)
    assert conversation(page) == [("ann", "Through in the end")]

    sends = frames.sends("Through in the end")
    assert len(sends) >= 2
    (client_id,) = {send["client_id"] for send in sends}
    errors = [f for f in frames.received if f["type"] == "error"]
    assert errors and {(e["code"], e["client_id"]) for e in errors} == {("server_error", client_id)}
    (stored,) = Message.objects.filter(room=room)
    assert (stored.body, stored.client_id) == ("Through in the end", client_id)


def type_and_send(page: Page, text: str) -> None:
    """Send `text` from the composer as it is, past what its maxlength lets a person type."""
    box = page.get_by_label("Message", exact=True)
    box.evaluate("(box, text) => { box.value = text; }", text)
    box.press("Enter")
    expect(box).to_have_value("")


REFUSED_FOR_GOOD = [
    pytest.param("x" * (MAX_BODY + 1), TOO_LONG, id="too long"),
    pytest.param("a\x00b", re.compile("NUL"), id="with a NUL"),
]


@pytest.mark.parametrize(("text", "reason"), REFUSED_FOR_GOOD)
def test_a_send_refused_for_good_is_shown_failed_and_never_sent_again(
    enter_room, daphne_server, proxy_to, ann, text, reason
):
    room = off_loop(room_create, name="Refused sends", created_by=ann)
    proxy = proxy_to(daphne_server.port)
    signed_in = enter_room(proxy.url, ann, room.slug)
    page, frames = watched_room(signed_in.context, proxy.url, room.slug)
    signed_in.close()
    failed = page.locator("#messages li.message.failed")

    type_and_send(page, text)
    expect(failed).to_have_count(1)
    expect(failed.locator(".message-time")).to_have_text(reason)
    expect(failed.locator(".message-body")).to_have_text(text)
    expect(page.locator(PENDING)).to_have_count(0)

    # Through a reconnect, and a message that goes through after it: still sent once.
    assert proxy.cut() >= 1
    expect(page.locator("#room")).to_have_attribute("data-state", "reconnecting")
    proxy.resume()
    wait_live(page)
    say(page, "After the reconnect")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(PENDING)).to_have_count(0)
    assert len(frames.sends(text)) == 1
    expect(failed).to_have_count(1)
    assert not Message.objects.filter(room=room, client_id=frames.sends(text)[0]["client_id"])

    # Edit takes the text back into the composer; Dismiss just drops it.
    failed.get_by_role("button", name="Edit").click()
    expect(failed).to_have_count(0)
    assert page.get_by_label("Message", exact=True).input_value() == text
    type_and_send(page, text)
    expect(failed).to_have_count(1)
    failed.get_by_role("button", name="Dismiss").click()
    expect(failed).to_have_count(0)
    assert conversation(page) == [("ann", "After the reconnect")]
    assert len(frames.sends(text)) == 2


def test_a_send_the_server_keeps_failing_on_is_offered_for_retry_after_five_tries(
    enter_room, daphne_server, ann
):
    room = off_loop(room_create, name="Long outage", created_by=ann)
    signed_in = enter_room(daphne_server.url, ann, room.slug)
    # Fake timers from the first script on: the test moves the page's clock itself.
    signed_in.context.clock.install()
    page, frames = watched_room(signed_in.context, daphne_server.url, room.slug)
    signed_in.close()
    failed = page.locator("#messages li.message.failed")

    def errors() -> list[dict]:
        return [f for f in frames.received if f["type"] == "error"]

    run_sql(REFUSE_MESSAGES)
    try:
        say(page, "Not today")
        for tries in range(1, 5):
            expect(page.locator(PENDING).locator(".message-time")).to_have_text(
                "not sent yet, retrying…"
            )
            while len(errors()) < tries:
                page.evaluate("0")  # lets Playwright deliver the socket's frames
            page.clock.run_for(2000)
        expect(failed).to_have_count(1)
        expect(failed.locator(".message-time")).to_have_text(re.compile("^not sent: "))
        page.clock.run_for(10_000)  # no retry is due any more
        page.evaluate("0")
        assert len(frames.sends("Not today")) == 5
    finally:
        run_sql(ACCEPT_MESSAGES)

    failed.get_by_role("button", name="Retry").click()
    expect(page.locator(ROWS)).to_have_count(1)
    expect(failed).to_have_count(0)
    sends = frames.sends("Not today")
    assert len(sends) == 6 and len({send["client_id"] for send in sends}) == 1
    assert Message.objects.get(room=room).client_id == sends[0]["client_id"]


# Times, buttons, the empty room, a frozen server, what a screen reader hears -------------------


def post(room, author, body: str, n: int = 0) -> Message:
    message, _created = off_loop(
        message_create, room=room, author=author, body=body, client_id=f"{body}-{n}"
    )
    return message


def post_at(room, author, body: str, at: datetime) -> Message:
    """A message as if it had been sent at `at`."""
    message = post(room, author, body)
    Message.objects.filter(pk=message.pk).update(created_at=at)
    return message


def test_messages_are_dated_in_the_readers_time_zone_with_a_divider_for_each_day(
    enter_room, daphne_server, sign_in, ann, bob
):
    # Fourteen hours ahead of UTC: what is today there is often yesterday in UTC.
    zone = ZoneInfo("Pacific/Kiritimati")
    now = timezone.now().astimezone(zone)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    since_midnight = min(timedelta(minutes=2), (now - midnight) / 2)
    last_year = (now - timedelta(days=400)).replace(hour=10, minute=15)
    last_week = (now - timedelta(days=6)).replace(hour=9, minute=30)
    room = off_loop(room_create, name="Calendar", created_by=ann)
    post_at(room, bob, "Long ago", last_year)
    post_at(room, bob, "Last week", last_week)
    post_at(room, bob, "Late last night", midnight - timedelta(minutes=1))
    # Minutes apart, by the same person, but not the same day: not grouped.
    post_at(room, bob, "Just after midnight", midnight + since_midnight)
    post_at(room, bob, "And again", midnight + since_midnight + timedelta(seconds=1))

    page = sign_in(ann, f"/chat/{room.slug}/", timezone_id="Pacific/Kiritimati", locale="en-GB")

    def day(when: datetime) -> str:
        # As en-GB says it: "Monday 30 November", "Tuesday, 28 October 2025".
        if when.year == now.year:
            return f"{when:%A} {when.day} {when:%B}"
        return f"{when:%A}, {when.day} {when:%B} {when.year}"

    expect(page.locator("#messages li.day-divider")).to_have_text(
        [day(last_year), day(last_week), "Yesterday", "Today"]
    )
    # A divider above each day's first message, and "New messages" above the first unread.
    expect(page.locator("#messages > li")).to_have_count(5 + 4 + 1)
    times = page.locator(f"{ROWS} time.message-time")
    stamps = [last_year, last_week, midnight - timedelta(minutes=1), midnight + since_midnight]
    for n, when in enumerate(stamps):
        time = times.nth(n)
        assert datetime.fromisoformat(time.get_attribute("datetime")) == when
        title = time.get_attribute("title")
        for part in (f"{when:%A}", f"{when.day} {when:%B} {when.year}", f"{when:%H:%M}"):
            assert part in title, (part, title)
        if n < 3:
            expect(time).to_have_text(re.compile(rf"\b{when.day} {when:%b}\b.*{when:%H:%M}"))
    expect(times.nth(3)).to_have_text(f"{midnight + since_midnight:%H:%M}")
    if last_year.year != now.year:
        expect(times.nth(0)).to_contain_text(str(last_year.year))

    after_midnight = row_with(page, "Just after midnight")
    expect(after_midnight).not_to_have_class(re.compile(r"\bcontinued\b"))
    again = row_with(page, "And again")
    expect(again).to_have_class(re.compile(r"\bcontinued\b"))
    # A grouped message's time shows on hover, and when the keyboard is on it.
    expect(again.locator("time")).to_be_hidden()
    again.hover()
    expect(again.locator("time")).to_be_visible()
    page.get_by_label("Message", exact=True).hover()
    expect(again.locator("time")).to_be_hidden()
    again.focus()
    expect(again.locator("time")).to_be_visible()


def boxes_meet(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


# The box of each line of text in an element.
TEXT_LINES = """element => {
  const lines = [];
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const range = document.createRange();
    range.selectNodeContents(walker.currentNode);
    for (const line of range.getClientRects()) {
      lines.push({ x: line.x, y: line.y, width: line.width, height: line.height });
    }
  }
  return lines;
}"""


def covers_text(box: dict, element) -> bool:
    return any(boxes_meet(box, line) for line in element.evaluate(TEXT_LINES))


def test_a_messages_buttons_show_on_hover_or_focus_only_and_never_cover_its_text(
    enter_room, daphne_server, ann
):
    room = off_loop(room_create, name="Tidy", created_by=ann)
    words = "A long message that fills its line from one side to the other " * 6
    post(room, ann, "First")
    post(room, ann, words)
    page = enter_room(daphne_server.url, ann, room.slug)
    first, second = row_with(page, "First"), row_with(page, "A long message")
    expect(second).to_have_class(re.compile(r"\bcontinued\b"))

    for row in (first, second):
        body = row.locator(".message-body")
        expect(row.get_by_role("button", name="Edit")).to_be_hidden()
        row.hover()
        for name in ("Edit", "Delete"):
            control = row.get_by_role("button", name=name)
            expect(control).to_be_visible()
            assert not covers_text(control.bounding_box(), body)
        assert not covers_text(row.locator("time").bounding_box(), body)
    page.get_by_label("Message", exact=True).hover()
    expect(page.locator(f"{ROWS} .message-actions button:visible")).to_have_count(0)
    second.focus()
    expect(second.get_by_role("button", name="Edit")).to_be_visible()
    expect(first.get_by_role("button", name="Edit")).to_be_hidden()


def test_a_new_room_says_so_and_who_is_here_fits_its_names(enter_room, daphne_server, ann):
    room = off_loop(room_create, name="Brand new", created_by=ann)
    page = enter_room(daphne_server.url, ann, room.slug)
    empty = page.get_by_text("No messages yet — say hello.")
    expect(empty).to_be_visible()
    expect(page.locator("#presence li")).to_have_text(["ann (you)"])
    here = page.locator(".presence").bounding_box()
    names = page.locator("#presence").bounding_box()
    log = page.get_by_role("log", name="Conversation").bounding_box()
    # The card ends below its last name, far above the foot of the conversation.
    assert here["y"] + here["height"] < names["y"] + names["height"] + 40
    assert here["height"] < log["height"] / 2

    say(page, "Hello")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(empty).to_be_hidden()


def test_a_frozen_server_is_noticed_and_what_was_sent_into_it_goes_through_once(
    enter_room, daphne_server, ann, bob
):
    room = off_loop(room_create, name="Frozen", created_by=ann)
    pages = []
    for user in (ann, bob):
        signed_in = enter_room(daphne_server.url, user, room.slug)
        # Fake timers from the first script on: the test moves the pages' clocks itself.
        signed_in.context.clock.install()
        pages.append(open_room(signed_in.context, daphne_server.url, room.slug))
        signed_in.close()
    page_a, page_b = pages

    os.kill(daphne_server.pid, signal.SIGSTOP)
    try:
        say(page_a, "Sent into the freeze")
        expect(page_a.locator(PENDING)).to_have_count(1)
        # A second at a time, letting frames in between: a live server's pong would come.
        for _second in range(16):
            for page in pages:
                page.clock.run_for(1000)
                page.evaluate("0")
        for page in pages:
            expect(page.locator("#room")).to_have_attribute("data-state", "reconnecting")
            expect(page.locator("#connection-state")).to_have_text("Reconnecting…")
        expect(page_a.locator(PENDING)).to_have_count(1)
    finally:
        os.kill(daphne_server.pid, signal.SIGCONT)

    for page in pages:
        page.clock.run_for(1000)  # any retry still waiting for its turn
        wait_live(page)
        expect(page.locator(ROWS)).to_have_count(1)
        expect(page.locator(f"{ROWS} .message-body")).to_have_text(["Sent into the freeze"])
    expect(page_a.locator(PENDING)).to_have_count(0)
    assert Message.objects.filter(room=room, body="Sent into the freeze").count() == 1


# Every element a screen reader speaks from when it changes, with what it says.
LIVE_REGIONS = """() => [...document.querySelectorAll([
  '[aria-live]:not([aria-live="off"])',
  '[role="log"]:not([aria-live="off"])',
  '[role="status"]',
  '[role="alert"]',
].join(", "))].map(node => node.textContent)"""


def test_a_new_message_is_announced_once_and_a_rooms_history_is_not(
    enter_room, daphne_server, ann, bob
):
    room = off_loop(room_create, name="Heard", created_by=ann)
    for n in range(3):
        post(room, bob, f"Earlier {n}", n)
    page_a = enter_room(daphne_server.url, ann, room.slug)
    page_b = enter_room(daphne_server.url, bob, room.slug)
    log = page_a.get_by_role("log", name="Conversation")
    # The log holds the list: a list of messages, each a list item.
    expect(log.locator("> ol.messages > li.message")).to_have_count(3)
    assert not [text for text in page_a.evaluate(LIVE_REGIONS) if "Earlier" in text]

    say(page_b, "Hello ann")
    expect(page_a.locator(ROWS)).to_have_count(4)
    expect(page_a.locator("#announcer > p")).to_have_text(["bob: Hello ann"])
    spoken = [text for text in page_a.evaluate(LIVE_REGIONS) if "Hello ann" in text]
    assert spoken == ["bob: Hello ann"]

    # Her own message is on her screen already; bob hears it, once.
    say(page_a, "Hi bob")
    expect(page_b.locator("#announcer > p")).to_have_text(["ann: Hi bob"])
    expect(page_a.locator(ROWS)).to_have_count(5)
    assert not [text for text in page_a.evaluate(LIVE_REGIONS) if "Hi bob" in text]
