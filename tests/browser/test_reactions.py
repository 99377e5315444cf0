"""Reactions in Chromium against a live daphne: two people, one reacts, the other sees it live.

Reactions are found by their `data-emoji` and their names, never by how a glyph is
drawn (the machine may have no emoji font). Tests wait on page state, never on a sleep.
"""

import pytest
from playwright.sync_api import Locator, Page, expect

from chat.services import message_create, room_create, room_join
from tests.support.browser import ROWS, off_loop, say, wait_live

pytestmark = pytest.mark.django_db(transaction=True)

THUMBS, HEART = "👍", "❤️"


def public_room(name: str, owner, *members):
    room = off_loop(room_create, name=name, created_by=owner)
    for member in members:
        off_loop(room_join, room=room, user=member)
    return room


def row_with(page: Page, text: str) -> Locator:
    return page.locator(ROWS).filter(has_text=text)


def reaction(page: Page, text: str, emoji: str) -> Locator:
    """The toggle button of `emoji` under the message `text`."""
    return row_with(page, text).locator(f'.reaction[data-emoji="{emoji}"]')


def add_button(page: Page, text: str) -> Locator:
    return row_with(page, text).get_by_role("button", name="Add reaction")


def test_one_person_reacts_the_other_sees_the_count_live_and_both_toggle(sign_in, ann, bob):
    room = public_room("Lobby", ann, bob)
    off_loop(message_create, room=room, author=bob, body="Lunch at noon?", client_id="m1")
    page_a, page_b = sign_in(ann, f"/chat/{room.slug}/"), sign_in(bob, f"/chat/{room.slug}/")
    expect(reaction(page_b, "Lunch", THUMBS)).to_have_count(0)

    add_button(page_a, "Lunch").click()
    page_a.get_by_role("button", name=f"React with {THUMBS}").click()

    expect(page_a.locator(".reaction-palette")).to_have_count(0)
    expect(add_button(page_a, "Lunch")).to_be_focused()
    theirs = reaction(page_b, "Lunch", THUMBS)
    expect(theirs.locator(".reaction-count")).to_have_text("1")
    expect(theirs).to_have_attribute("aria-pressed", "false")
    expect(theirs).to_have_attribute("title", f"ann reacted with {THUMBS}")
    expect(reaction(page_a, "Lunch", THUMBS)).to_have_attribute("aria-pressed", "true")

    # Bob adds his by pressing hers; ann sees two.
    theirs.click()
    expect(reaction(page_a, "Lunch", THUMBS).locator(".reaction-count")).to_have_text("2")
    expect(reaction(page_a, "Lunch", THUMBS)).to_have_attribute(
        "title", f"you, bob reacted with {THUMBS}"
    )
    expect(theirs).to_have_attribute("aria-pressed", "true")
    expect(theirs).to_be_focused()

    # Ann takes hers back: one left, bob's.
    reaction(page_a, "Lunch", THUMBS).click()
    expect(theirs.locator(".reaction-count")).to_have_text("1")
    expect(theirs).to_have_attribute("title", f"you reacted with {THUMBS}")
    expect(reaction(page_a, "Lunch", THUMBS)).to_have_attribute("aria-pressed", "false")

    # And bob his: the button is gone, the focus on "Add reaction".
    theirs.click()
    expect(reaction(page_a, "Lunch", THUMBS)).to_have_count(0)
    expect(theirs).to_have_count(0)
    expect(add_button(page_b, "Lunch")).to_be_focused()

    # A page opened afterwards shows what is left from the history: nothing.
    page_b.reload()
    wait_live(page_b)
    expect(row_with(page_b, "Lunch").locator(".reaction")).to_have_count(0)


def test_the_palette_works_from_the_keyboard_and_escape_gives_the_focus_back(sign_in, ann, bob):
    room = public_room("Lobby", ann, bob)
    off_loop(message_create, room=room, author=bob, body="Ship it?", client_id="m1")
    page = sign_in(ann, f"/chat/{room.slug}/")
    add = add_button(page, "Ship it")
    palette = page.locator(".reaction-palette")

    add.focus()
    page.keyboard.press("Enter")
    expect(palette).to_have_count(1)
    expect(add).to_have_attribute("aria-expanded", "true")
    expect(palette.locator(f'[data-emoji="{THUMBS}"]')).to_be_focused()
    page.keyboard.press("Escape")
    expect(palette).to_have_count(0)
    expect(add).to_be_focused()
    expect(add).to_have_attribute("aria-expanded", "false")

    page.keyboard.press("Enter")
    page.keyboard.press("ArrowRight")
    expect(palette.locator(f'[data-emoji="{HEART}"]')).to_be_focused()
    page.keyboard.press("Enter")
    expect(reaction(page, "Ship it", HEART)).to_have_attribute("aria-pressed", "true")
    expect(add).to_be_focused()

    # Reopened, the palette offers to take it back.
    page.keyboard.press("Enter")
    expect(palette.get_by_role("button", name=f"Take back {HEART}")).to_have_count(1)
    page.keyboard.press("Escape")


def test_a_reaction_in_another_room_counts_as_nothing_unread(sign_in, ann, bob):
    lobby, side = public_room("Lobby", ann, bob), public_room("Side", ann, bob)
    off_loop(message_create, room=lobby, author=bob, body="Mine", client_id="m1")
    page_b = sign_in(bob, f"/chat/{side.slug}/")
    page_a = sign_in(ann, f"/chat/{lobby.slug}/")
    badge = page_b.locator(f'#sidebar li[data-stream="chat:{lobby.slug}"] .unread-badge')

    add_button(page_a, "Mine").click()
    page_a.get_by_role("button", name=f"React with {THUMBS}").click()
    expect(reaction(page_a, "Mine", THUMBS)).to_have_attribute("aria-pressed", "true")
    # The message after it is the first and only thing unread.
    say(page_a, "And this")
    expect(badge).to_have_text("1")

    # Opened, the room puts "New messages" above the message, not above the reaction's.
    page_b.locator(f'#sidebar li[data-stream="chat:{lobby.slug}"] a').click()
    wait_live(page_b)
    expect(page_b.locator("#messages .unread-divider + li.message .message-body")).to_have_text(
        "And this"
    )
    expect(reaction(page_b, "Mine", THUMBS).locator(".reaction-count")).to_have_text("1")
