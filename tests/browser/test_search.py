"""Search in Chromium: from the chat's search box to the results, and from a result to
the message in its room, loaded with the history around it and highlighted.

`TEST_STACK=postgres-redis` runs it on PostgreSQL (its full-text search) too.
"""

import re

import pytest
from playwright.sync_api import expect

from chat.models import Room
from chat.services import message_create, room_create
from tests.support.browser import ROWS, off_loop, say, wait_live

pytestmark = pytest.mark.django_db(transaction=True)


def fill(*, room, author, bodies: list[str]) -> list:
    """The messages written, one per body, from a worker thread (off_loop)."""
    return [
        message_create(room=room, author=author, body=body, client_id=f"fill-{n}")[0]
        for n, body in enumerate(bodies)
    ]


def test_a_search_result_opens_its_room_at_the_message_highlighted(sign_in, ann, bob, carol):
    lobby = off_loop(room_create, name="Lobby", created_by=None)
    secret = off_loop(room_create, name="Secret", created_by=carol, kind=Room.Kind.PRIVATE)
    bodies = [f"chatter {n}" for n in range(120)]
    bodies[20] = "The <quarterly> numbers are in"
    messages = off_loop(fill, room=lobby, author=bob, bodies=bodies)
    off_loop(fill, room=secret, author=carol, bodies=["quarterly secrets"])
    target = messages[20]

    page = sign_in(ann, f"/chat/{lobby.slug}/")
    # The room opened at its latest messages: the one searched for is far above.
    expect(page.locator(f"#message-{target.pk}")).to_have_count(0)
    box = page.get_by_role("searchbox", name="Search messages")
    box.fill("Quarterly")
    box.press("Enter")

    expect(page).to_have_url(re.compile(r"/chat/search/\?q=Quarterly$"))
    results = page.locator(".search-result")
    expect(results).to_have_count(1)
    expect(results.locator("mark")).to_have_text("quarterly")
    expect(results.locator(".search-result-snippet")).to_have_text("The <quarterly> numbers are in")
    results.get_by_role("link", name="Lobby").click()

    expect(page).to_have_url(re.compile(rf"/chat/{lobby.slug}/\?at={target.pk}$"))
    wait_live(page)
    row = page.locator(f"#message-{target.pk}")
    expect(row).to_have_class(re.compile(r"\bhighlight\b"))
    expect(row).to_be_in_viewport()
    # With the history around it: older messages above, newer ones below.
    expect(page.locator(f"#message-{messages[0].pk}")).to_be_attached()
    expect(page.locator(f"#message-{messages[44].pk}")).to_be_attached()
    expect(page.locator(f"#message-{messages[45].pk}")).to_have_count(0)

    # Going down brings the newer messages, up to a live one, with no gap.
    say(sign_in(bob, f"/chat/{lobby.slug}/"), "just now")
    newer = page.get_by_role("button", name="Load newer messages")
    newer.click()
    expect(page.locator(f"#message-{messages[94].pk}")).to_be_attached()
    expect(page.locator(f"#message-{messages[95].pk}")).to_have_count(0)
    newer.click()
    expect(newer).to_be_hidden()
    expect(page.locator(ROWS)).to_have_count(len(messages) + 1)
    expect(page.locator(ROWS).last).to_contain_text("just now")
