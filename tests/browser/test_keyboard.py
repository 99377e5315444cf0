"""The chat app by keyboard alone: where the focus is at each step, checked, never assumed.

After the first page load nothing is clicked: keys only, as a person without a
pointer would press them.
"""

import pytest
from playwright.sync_api import Page, expect

from chat.services import message_create, room_create, room_join
from tests.support.browser import ROWS, off_loop, wait_live

pytestmark = pytest.mark.django_db(transaction=True)

# What has the focus: enough to tell the composer, a message, a button and a link apart.
FOCUSED = """() => {
  const node = document.activeElement;
  const row = node.closest("li.message");
  return {
    tag: node.tagName.toLowerCase(),
    id: node.id,
    text: node.matches("button, a") ? node.textContent.trim() : "",
    label: node.getAttribute("aria-label") ?? "",
    row: row ? (row.querySelector(".message-body")?.textContent ?? row.dataset.body) : null,
  };
}"""


def focused(page: Page) -> dict:
    return page.evaluate(FOCUSED)


def press_until(page: Page, key: str, wanted, most: int = 40) -> int:
    """Press `key` until `wanted(focused(page))`; how many presses that took."""
    for presses in range(1, most + 1):
        page.keyboard.press(key)
        if wanted(focused(page)):
            return presses
    raise AssertionError(f"{most} × {key} never got there; the focus is on {focused(page)}")


def post(room, author, body: str) -> None:
    off_loop(message_create, room=room, author=author, body=body, client_id=body)


def public_room(name: str, owner, *members):
    room = off_loop(room_create, name=name, created_by=owner)
    for member in members:
        off_loop(room_join, room=room, user=member)
    return room


def test_a_keyboard_alone_signs_in_sends_edits_deletes_and_switches_rooms(
    new_context, daphne_server, password, ann, bob
):
    lobby = public_room("Lobby", ann, bob)
    side = public_room("Side", ann, bob)
    post(lobby, bob, "Morning")
    post(lobby, bob, "Anyone here?")
    page = new_context().new_page()
    page.goto(f"{daphne_server.url}/accounts/login/?next=/chat/{lobby.slug}/")
    keys = page.keyboard

    press_until(page, "Tab", lambda f: f["id"] == "id_username")
    keys.type(ann.username)
    keys.press("Tab")
    assert focused(page)["id"] == "id_password"
    keys.type(password)
    keys.press("Enter")
    wait_live(page)
    # Ready to type.
    assert focused(page)["id"] == "message-input"

    keys.type("Hello by keyboard")
    keys.press("Enter")
    sent = page.locator(ROWS).filter(has_text="Hello by keyboard")
    expect(sent).to_have_count(1)
    mine = page.locator(f"#{sent.get_attribute('id')}")
    assert focused(page)["id"] == "message-input"

    # The conversation is one stop back, on the newest message; arrows move in it.
    keys.press("Shift+Tab")
    assert focused(page)["row"] == "Hello by keyboard"
    keys.press("ArrowUp")
    assert focused(page)["row"] == "Anyone here?"
    keys.press("Home")
    assert focused(page)["row"] == "Morning"
    keys.press("End")
    assert focused(page)["row"] == "Hello by keyboard"

    # Into the message: its Edit button.
    keys.press("Tab")
    assert focused(page) | {"label": ""} == {
        "tag": "button",
        "id": "",
        "text": "Edit",
        "label": "",
        "row": "Hello by keyboard",
    }
    keys.press("Enter")
    assert focused(page)["label"] == "Edit message"
    keys.press("ControlOrMeta+a")
    keys.type("Edited by keyboard")
    keys.press("Enter")
    expect(mine.locator(".message-body")).to_have_text("Edited by keyboard")
    expect(mine.locator(".message-edited")).to_have_text("(edited)")
    # Back on the Edit button, through the server's redraw of the message too.
    assert (focused(page)["text"], focused(page)["row"]) == ("Edit", "Edited by keyboard")

    # Escape leaves the text as it was, and the focus where it came from.
    keys.press("Enter")
    assert focused(page)["label"] == "Edit message"
    keys.type(" and more")
    keys.press("Escape")
    assert (focused(page)["text"], focused(page)["row"]) == ("Edit", "Edited by keyboard")
    expect(mine.locator(".message-body")).to_have_text("Edited by keyboard")

    # Deleted: the keyboard goes on to the composer, as nothing comes after it.
    page.on("dialog", lambda dialog: dialog.accept())
    keys.press("Tab")
    assert focused(page)["text"] == "Delete"
    keys.press("Enter")
    expect(mine.locator(".message-body")).to_have_text("Message deleted")
    assert focused(page)["id"] == "message-input"

    # Another room, from the sidebar: back past the conversation, one stop.
    presses = press_until(
        page, "Shift+Tab", lambda f: f["tag"] == "a" and f["text"].startswith("Side")
    )
    assert presses <= 6
    keys.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Side")
    wait_live(page)
    assert page.url == f"{daphne_server.url}/chat/{side.slug}/"
    assert focused(page)["id"] == "message-input"
    keys.press("Escape")
    assert focused(page)["id"] == "message-input"


def test_the_composer_is_as_few_tabs_away_in_a_busy_room_as_in_a_quiet_one(sign_in, ann, bob):
    quiet = public_room("Quiet", ann, bob)
    busy = public_room("Busy", ann, bob)
    for n in range(2):
        post(quiet, bob, f"Quiet {n}")
    for n in range(60):
        post(busy, bob, f"Busy {n} with a @ann and a https://example.com/{n} link")
    # The one message on the way, the newest, is like the quiet room's: its links would
    # be stops of their own, past the message.
    post(busy, bob, "Busy at last")
    tabs = {}
    for room in (quiet, busy):
        page = sign_in(ann, f"/chat/{room.slug}/")
        # On load, the composer has the focus.
        assert focused(page)["id"] == "message-input"
        page.locator(".skip-link").focus()
        tabs[room.name] = press_until(page, "Tab", lambda f: f["id"] == "message-input")
    assert tabs["Quiet"] == tabs["Busy"] <= 15, tabs
