"""The chat app in Chromium: two people, several tabs, one multiplexed socket per tab.

Unread and mention badges rise live and fall in every tab when one reads;
they stay right through a real disconnect and a delete; a removed member stops
receiving at once; direct messages start from a name; a mention notifies a
hidden tab; rooms change without a reload or a new socket; a phone gets a
folded sidebar. Tests wait on page state, never on a sleep.
"""

from collections.abc import Iterator

import pytest
from django.templatetags.static import static
from django.test import override_settings
from playwright.sync_api import BrowserContext, Page, expect

from chat.models import Membership, Message
from chat.selectors import room_head
from chat.services import (
    dm_open,
    member_add,
    member_remove,
    message_create,
    message_delete,
    room_create,
    room_join,
)
from project.settings.base import channel_layers
from tests.support.browser import ROWS, off_loop, say, wait_live
from tests.support.harness import DaphneServer
from tests.support.stack import ON_REDIS_STACK

pytestmark = pytest.mark.django_db(transaction=True)

# The tab is in the background, as far as the page can tell.
HIDE_TAB = """() => {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
  Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""

# And in the foreground again.
SHOW_TAB = """() => {
  delete document.visibilityState;
  delete document.hidden;
  document.dispatchEvent(new Event("visibilitychange"));
}"""

# Every Notification the page shows is kept in window.shown, the real one shown too.
RECORD_NOTIFICATIONS = """() => {
  const Real = window.Notification;
  window.shown = [];
  window.Notification = class extends Real {
    constructor(title, options = {}) {
      super(title, options);
      window.shown.push(this);
    }
    static get permission() { return Real.permission; }
    static requestPermission() { return Real.requestPermission(); }
  };
}"""
SHOWN = "() => window.shown.map(note => [note.title, note.body])"

# A MultiplexSocket of the test's own on the page, following `stream`; what its
# handlers hear is written to <body data-heard>, for expect() to wait on.
START_PROBE = """async ([url, stream]) => {
  const { MultiplexSocket } = await import(url);
  const heard = [];
  const ignore = () => {};
  const note = (line) => {
    heard.push(line);
    document.body.dataset.heard = heard.join(" | ");
  };
  const handlers = (tag) => ({
    onEvent: ignore,
    onFrame: ignore,
    onReady: () => note(`${tag} ready`),
    onLeft: (reason) => note(`${tag} left: ${reason}`),
  });
  const personal = { seq: 0, onEvent: ignore, onFrame: ignore };
  const socket = new MultiplexSocket({ personal, onFrame: ignore, onState: ignore });
  socket.join(stream, handlers("first"));
  socket.start();
  window.probe = { socket, rejoin: () => {
    socket.leave(stream);
    socket.join(stream, handlers("again"));
  } };
}"""


# Fixtures ----------------------------------------------------------------------


@pytest.fixture
def daphne_server(daphne_factory, request: pytest.FixtureRequest) -> Iterator[DaphneServer]:
    """daphne on a Redis layer this process shares: what a test does through a service
    (a post, a delete, a removal) reaches the pages live, as it would from another page."""
    if ON_REDIS_STACK:
        yield daphne_factory()
        return
    url = request.getfixturevalue("redis_server").url
    with override_settings(CHANNEL_LAYERS=channel_layers(url)):
        yield daphne_factory(REDIS_URL=url)


# Helpers -------------------------------------------------------------------------


def another_tab(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    page.goto(url)
    return wait_live(page)


def entry(page: Page, room):
    return page.locator(f'#sidebar li[data-stream="chat:{room.slug}"]')


def unread(page: Page, room):
    return entry(page, room).locator(".unread-badge")


def mentions(page: Page, room):
    return entry(page, room).locator(".mention-badge")


def switch_to(page: Page, room) -> None:
    """Open `room` from the sidebar; return once it is the open room, live."""
    link = entry(page, room).locator("a.room-link")
    link.click()
    expect(link).to_have_attribute("aria-current", "page")
    wait_live(page)


def post(room, author, body: str, n: int = 0) -> Message:
    message, _created = off_loop(
        message_create, room=room, author=author, body=body, client_id=f"{body}-{n}"
    )
    return message


def public_room(name: str, owner, *members):
    room = off_loop(room_create, name=name, created_by=owner)
    for member in members:
        off_loop(room_join, room=room, user=member)
    return room


def frames_received(page: Page) -> list[str]:
    """Reload the page; the text of every frame its socket receives from then on."""
    texts: list[str] = []
    with page.expect_websocket() as opened:
        page.reload()
    opened.value.on("framereceived", lambda payload: texts.append(payload))
    wait_live(page)
    return texts


def sockets_opened(page: Page) -> list[str]:
    """The URL of every WebSocket the page opens from now on."""
    urls: list[str] = []
    page.on("websocket", lambda socket: urls.append(socket.url))
    return urls


# Tests ---------------------------------------------------------------------------


def test_an_unread_badge_rises_live_and_reading_in_one_tab_clears_it_in_the_others(
    sign_in, daphne_server, ann, bob
):
    lobby = public_room("Lobby", ann, bob)
    side = public_room("Side", ann, bob)
    first = sign_in(bob, f"/chat/{lobby.slug}/")
    second = another_tab(first.context, f"{daphne_server.url}/chat/{lobby.slug}/")
    for tab in (first, second):
        expect(unread(tab, side)).to_be_hidden()

    page_a = sign_in(ann, f"/chat/{side.slug}/")
    say(page_a, "First in Side")
    say(page_a, "Second in Side")
    for tab in (first, second):
        expect(unread(tab, side)).to_have_text("2")
        expect(unread(tab, lobby)).to_be_hidden()
    # Her own messages are not unread to her, and she is reading the room.
    expect(unread(page_a, side)).to_be_hidden()

    switch_to(first, side)
    expect(first.get_by_role("heading", level=1)).to_have_text("Side")
    expect(first.locator("#messages .unread-divider")).to_have_count(1)
    expect(first.locator("#messages .unread-divider + li.message .message-body")).to_have_text(
        "First in Side"
    )
    expect(unread(first, side)).to_be_hidden()
    # Read in the first tab: the second, still in the Lobby, clears it too.
    expect(unread(second, side)).to_be_hidden()
    expect(second.get_by_role("heading", level=1)).to_have_text("Lobby")

    # Reopened, it has nothing new: no divider.
    switch_to(first, lobby)
    switch_to(first, side)
    expect(first.locator(ROWS)).to_have_count(2)
    expect(first.locator("#messages .unread-divider")).to_have_count(0)


def test_a_hidden_tab_leaves_the_open_room_unread_until_it_is_shown(
    sign_in, daphne_server, ann, bob
):
    lobby = public_room("Lobby", ann, bob)
    page = sign_in(bob, f"/chat/{lobby.slug}/")
    with page.expect_websocket() as opened:
        page.reload()
    socket = opened.value
    wait_live(page)
    page.evaluate(HIDE_TAB)

    post(lobby, ann, "While bob looks away")
    expect(page.locator(f"{ROWS} .message-body")).to_have_text(["While bob looks away"])
    expect(unread(page, lobby)).to_have_text("1")
    expect(page).to_have_title("(1) Lobby · Chat")
    membership = Membership.objects.get(room=lobby, user=bob)
    assert membership.read < room_head(room=lobby)

    with socket.expect_event("framereceived", predicate=lambda text: '"user.read"' in text):
        page.evaluate(SHOW_TAB)
    expect(unread(page, lobby)).to_be_hidden()
    expect(page).to_have_title("Lobby · Chat")
    membership.refresh_from_db()
    assert membership.read == room_head(room=lobby)


def test_counts_are_right_after_a_reconnect_that_missed_messages_and_after_a_delete(
    sign_in, proxy_to, daphne_server, ann, bob
):
    lobby = public_room("Lobby", ann, bob)
    side = public_room("Side", ann, bob)
    proxy = proxy_to(daphne_server.port)
    page = sign_in(bob, f"/chat/{lobby.slug}/", base_url=proxy.url)
    other = another_tab(page.context, f"{proxy.url}/chat/{lobby.slug}/")

    assert proxy.cut() >= 2, "bob's sockets did not go through the proxy"
    for tab in (page, other):
        expect(tab.locator("#room")).to_have_attribute("data-state", "reconnecting")
    post(side, ann, "Missed one")
    mentioning = post(side, ann, "Missed two, @bob")
    third = post(side, ann, "Missed three")
    proxy.resume()

    for tab in (page, other):
        wait_live(tab)
        expect(unread(tab, side)).to_have_text("3")
        expect(mentions(tab, side)).to_have_text("@1")

    off_loop(message_delete, room=side, message_id=third.pk, by=ann)
    for tab in (page, other):
        expect(unread(tab, side)).to_have_text("2")
        expect(mentions(tab, side)).to_have_text("@1")
    off_loop(message_delete, room=side, message_id=mentioning.pk, by=ann)
    for tab in (page, other):
        expect(unread(tab, side)).to_have_text("1")
        expect(mentions(tab, side)).to_be_hidden()

    # What a fresh load counts is what the live tabs counted.
    fresh = another_tab(page.context, f"{daphne_server.url}/chat/{lobby.slug}/")
    expect(unread(fresh, side)).to_have_text("1")
    expect(mentions(fresh, side)).to_be_hidden()


def test_a_member_removed_from_a_private_room_stops_receiving_in_every_tab_at_once(
    sign_in, daphne_server, ann, bob
):
    secret = off_loop(room_create, name="Secret", created_by=ann, kind="private")
    off_loop(member_add, room=secret, user=bob, by=ann)
    lobby = public_room("Lobby", ann, bob)
    side = public_room("Side", ann, bob)
    first = sign_in(bob, f"/chat/{secret.slug}/")
    second = another_tab(first.context, f"{daphne_server.url}/chat/{side.slug}/")
    heard = {tab: frames_received(tab) for tab in (first, second)}
    post(secret, ann, "Before the removal")
    expect(first.locator(f"{ROWS} .message-body")).to_have_text(["Before the removal"])
    # (The first tab reads it, so the second's count may be back to none already.)
    expect(entry(second, secret)).to_have_count(1)

    off_loop(member_remove, room=secret, user=bob, by=ann)
    for tab in (first, second):
        expect(entry(tab, secret)).to_have_count(0)
    expect(first.locator("#room-notice")).to_have_text(
        "You are not a member of this room any more."
    )
    expect(first.get_by_label("Message", exact=True)).to_be_disabled()

    post(secret, ann, "After the removal")
    # A message both tabs count, sent after: once it is there, the other would have been too.
    post(lobby, ann, "Meanwhile in the Lobby")
    for tab in (first, second):
        expect(unread(tab, lobby)).to_have_text("1")
        assert any("Meanwhile in the Lobby" in text for text in heard[tab])
        assert not [text for text in heard[tab] if "After the removal" in text]
    expect(first.get_by_text("After the removal")).to_have_count(0)

    status = first.evaluate(
        "async url => (await fetch(url, { headers: { Accept: 'application/json' } })).status",
        f"/chat/{secret.slug}/history",
    )
    assert status == 404
    response = first.goto(f"{daphne_server.url}/chat/{secret.slug}/")
    assert response is not None and response.status == 404


def test_a_direct_message_starts_from_a_name_and_is_found_again(sign_in, daphne_server, ann, bob):
    lobby = public_room("Lobby", ann, bob)
    page_b = sign_in(bob, f"/chat/{lobby.slug}/")
    say(page_b, "bob in the Lobby")
    page_a = sign_in(ann, f"/chat/{lobby.slug}/")
    opened = sockets_opened(page_a)
    expect(page_a.locator("#presence li")).to_have_text(["ann (you)", "bob"])

    page_a.locator("#presence").get_by_role("button", name="bob").click()
    expect(page_a.get_by_role("heading", level=1)).to_have_text("bob")
    wait_live(page_a)
    dm_url = page_a.url
    assert dm_url != f"{daphne_server.url}/chat/{lobby.slug}/"
    say(page_a, "Just between us")

    # It turns up in bob's sidebar, counted, while he is in the Lobby.
    direct = page_b.locator('#dm-links li[data-kind="direct"]')
    expect(direct.locator(".room-link-name")).to_have_text(["ann"])
    expect(direct.locator(".unread-badge")).to_have_text("1")
    direct.get_by_role("link").click()
    expect(direct.get_by_role("link")).to_have_attribute("aria-current", "page")
    wait_live(page_b)
    assert page_b.url == dm_url
    expect(page_b.locator(f"{ROWS} .message-body")).to_have_text(["Just between us"])
    expect(direct.locator(".unread-badge")).to_be_hidden()
    say(page_b, "Agreed")

    # Found again after a reload: in the sidebar, and from bob's name on his message.
    page_a.reload()
    wait_live(page_a)
    expect(page_a.get_by_role("heading", level=1)).to_have_text("bob")
    page_a.goto(f"{daphne_server.url}/chat/{lobby.slug}/")
    wait_live(page_a)
    mine = page_a.locator("#dm-links li")
    expect(mine.locator(".room-link-name")).to_have_text(["bob"])
    mine.get_by_role("link").click()
    expect(mine.get_by_role("link")).to_have_attribute("aria-current", "page")
    wait_live(page_a)
    assert page_a.url == dm_url
    expect(page_a.locator(f"{ROWS} .message-body")).to_have_text(["Just between us", "Agreed"])
    page_a.go_back()
    expect(page_a.get_by_role("heading", level=1)).to_have_text("Lobby")
    wait_live(page_a)
    page_a.locator("#messages .author-button", has_text="bob").click()
    expect(page_a).to_have_url(dm_url)
    expect(page_a.get_by_role("heading", level=1)).to_have_text("bob")
    wait_live(page_a)
    (room,) = {message.room for message in Message.objects.filter(body="Agreed")}
    assert off_loop(dm_open, by=ann, users=[bob]) == room
    assert len(opened) == 2  # the reload's and the goto's; opening the DM opened none


def test_a_mention_shows_a_badge_and_notifies_a_hidden_tab_but_not_someone_who_cannot_read_it(
    sign_in, daphne_server, ann, bob, carol
):
    lobby = public_room("Lobby", ann, bob, carol)
    side = public_room("Side", ann, bob, carol)
    secret = off_loop(room_create, name="Secret", created_by=ann, kind="private")
    off_loop(member_add, room=secret, user=bob, by=ann)
    granted = {"permissions": ["notifications"]}
    page_c = sign_in(carol, f"/chat/{lobby.slug}/", **granted)
    page_a = sign_in(ann, f"/chat/{side.slug}/")

    page_c.get_by_role("button", name="Notify me of mentions").click()
    expect(page_c.locator("#notify-toggle")).to_have_attribute("aria-pressed", "true")
    page_c.evaluate(RECORD_NOTIFICATIONS)
    page_c.evaluate(HIDE_TAB)

    # Carol cannot read the Secret room: its mention of her tells her nothing. Had it
    # told her, it would have come first, before the mention she can read.
    off_loop(message_create, room=secret, author=ann, body="Not for @carol", client_id="s1")
    say(page_a, "Over here, @carol")
    expect(mentions(page_c, side)).to_have_text("@1")
    expect(unread(page_c, side)).to_have_text("1")
    expect(page_c.locator(f'#sidebar li[data-stream="chat:{secret.slug}"]')).to_have_count(0)
    assert page_c.evaluate(SHOWN) == [["ann mentioned you in Side", "Over here, @carol"]]

    # A mention is highlighted for the one it names only.
    expect(page_a.locator("#messages a.mention")).to_have_text("@carol")
    expect(page_a.locator("#messages a.mention.me")).to_have_count(0)

    # Clicking the notification opens the room at the message.
    page_c.evaluate("() => window.shown[0].dispatchEvent(new Event('click'))")
    expect(page_c.get_by_role("heading", level=1)).to_have_text("Side")
    wait_live(page_c)
    mentioned = page_c.locator("#messages li.message.highlight")
    expect(mentioned.locator("a.mention.me")).to_have_text("@carol")
    assert page_c.url.endswith(f"/chat/{side.slug}/")

    # A visible tab gets no notification: the badge is enough.
    page_b = sign_in(bob, f"/chat/{secret.slug}/", **granted)
    page_b.get_by_role("button", name="Notify me of mentions").click()
    page_b.evaluate(RECORD_NOTIFICATIONS)
    say(page_a, "@bob, a word")
    expect(mentions(page_b, side)).to_have_text("@1")
    assert page_b.evaluate(SHOWN) == []


def test_switching_rooms_opens_no_new_socket(sign_in, daphne_server, ann, bob):
    lobby = public_room("Lobby", ann)
    side = public_room("Side", ann)
    elsewhere = public_room("Elsewhere", bob)  # not one of ann's rooms
    page = sign_in(ann, f"/chat/{elsewhere.slug}/")
    opened = sockets_opened(page)
    page.reload()
    wait_live(page)
    (url,) = opened
    assert url.startswith(f"{daphne_server.url.replace('http', 'ws')}/ws/?after=")
    expect(entry(page, elsewhere)).to_have_count(0)

    switch_to(page, side)
    say(page, "In Side")
    switch_to(page, lobby)
    expect(page.locator(ROWS)).to_have_count(0)
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("Side")
    wait_live(page)
    expect(page.locator(f"{ROWS} .message-body")).to_have_text(["In Side"])
    page.go_forward()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lobby")
    wait_live(page)
    assert page.url == f"{daphne_server.url}/chat/{lobby.slug}/"

    # The room she was in, left when she opened another, is followed again.
    page.go_back()
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("Elsewhere")
    wait_live(page)
    post(elsewhere, bob, "Still here")
    expect(page.locator(f"{ROWS} .message-body")).to_have_text(["Still here"])
    assert len(opened) == 1


def test_on_a_phone_the_sidebar_folds_behind_a_button_and_the_composer_stays_at_the_bottom(
    sign_in, daphne_server, ann, bob
):
    lobby = public_room("Lobby", ann, bob)
    side = public_room("Side", ann, bob)
    for n in range(30):
        post(lobby, bob, f"Filling the screen {n}", n)
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    page = sign_in(ann, f"/chat/{lobby.slug}/", **phone)

    sidebar = page.locator("#sidebar")
    toggle = page.get_by_role("button", name="Rooms")
    expect(sidebar).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    composer = page.get_by_label("Message", exact=True)
    box = composer.bounding_box()
    assert box is not None and 844 - 160 < box["y"] + box["height"] <= 844
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    toggle.click()
    expect(sidebar).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(toggle).to_be_focused()
    toggle.click()
    expect(sidebar.locator("a").first).to_be_focused()
    switch_to(page, side)
    expect(sidebar).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_have_text("Side")
    box = composer.bounding_box()
    assert box is not None and 844 - 160 < box["y"] + box["height"] <= 844


def test_a_change_of_rights_ends_the_tabs_socket_and_what_is_sent_after_it_fails(sign_in, ann):
    lobby = public_room("Lobby", ann)
    page = sign_in(ann, f"/chat/{lobby.slug}/")

    def promote(*, user) -> None:
        user.is_staff = True
        user.save()

    off_loop(promote, user=ann)
    expect(page.locator("#room")).to_have_attribute("data-state", "access-changed")
    expect(page.locator("#connection-state")).to_have_text(
        "Your access changed. Reload the page to go on."
    )
    say(page, "Too late")
    failed = page.locator("#messages li.message.failed")
    expect(failed.locator(".message-time")).to_have_text("not sent: access changed")
    assert not Message.objects.filter(body="Too late").exists()


def test_a_stream_left_and_joined_again_at_once_stays_followed(sign_in, ann):
    lobby = public_room("Lobby", ann)
    page = sign_in(ann, f"/chat/{lobby.slug}/")
    heard = page.locator("body")
    page.evaluate(START_PROBE, [static("js/stream.js"), f"chat:{lobby.slug}"])
    expect(heard).to_have_attribute("data-heard", "first ready")

    # The answer to the leave comes after the join went out: it is not about the new one.
    page.evaluate("() => window.probe.rejoin()")
    expect(heard).to_have_attribute("data-heard", "first ready | again ready")
    assert page.evaluate("() => window.probe.socket.isReady('chat:lobby')")
    assert heard.get_attribute("data-heard") == "first ready | again ready"


def test_a_public_room_one_reads_without_joining_is_joined_from_its_page(sign_in, ann, bob):
    elsewhere = public_room("Elsewhere", bob)
    page = sign_in(ann, f"/chat/{elsewhere.slug}/")
    join = page.get_by_role("button", name="Join this room")
    expect(entry(page, elsewhere)).to_have_count(0)

    join.click()
    expect(entry(page, elsewhere).locator(".room-link-name")).to_have_text("Elsewhere")
    expect(join).to_be_hidden()
    post(elsewhere, bob, "Now counted")
    expect(page.locator(f"{ROWS} .message-body")).to_have_text(["Now counted"])
    expect(unread(page, elsewhere)).to_be_hidden()  # she is reading it


def test_on_a_phone_the_composer_is_in_view_who_is_here_is_below_it_and_only_the_list_scrolls(
    sign_in, ann, bob
):
    lobby = public_room("Lobby", ann, bob)
    for n in range(30):
        post(lobby, bob, f"Filling the screen {n}", n)
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    page = sign_in(ann, f"/chat/{lobby.slug}/", **phone)
    expect(page.locator("#presence li")).to_have_text(["ann (you)"])

    composer = page.get_by_label("Message", exact=True).bounding_box()
    send = page.get_by_role("button", name="Send").bounding_box()
    here = page.locator(".presence").bounding_box()
    log = page.get_by_role("log", name="Conversation").bounding_box()
    assert composer["y"] + composer["height"] <= 844 and send["y"] + send["height"] <= 844
    # Who is here comes after the conversation and its composer, not above them.
    assert here["y"] >= composer["y"] + composer["height"]
    assert here["y"] + here["height"] <= 844
    assert log["y"] < composer["y"]
    # One scroll: the list's, inside a page that does not scroll.
    document = page.evaluate(
        "() => [document.documentElement.scrollHeight, document.documentElement.clientHeight]"
    )
    assert document[0] <= document[1], document
    scroll = page.locator("#messages").evaluate("list => [list.scrollHeight, list.clientHeight]")
    assert scroll[0] > scroll[1], scroll
