"""People in Chromium against a live daphne: display names and avatars where people appear
(a message, who is here, a liveblog byline), a person's page, and their profile."""

import pytest
from playwright.sync_api import expect

from chat.services import message_create, room_create
from liveblog.services import liveblog_create, post_create
from people.cards import initials
from people.services import profile_update
from tests.support.browser import ROWS, off_loop, say, wait_live

pytestmark = pytest.mark.django_db(transaction=True)


def avatar_of(locator) -> tuple[str | None, str | None]:
    """(class, initials) of the avatar in `locator`."""
    avatar = locator.locator(".avatar").first
    return avatar.get_attribute("class"), avatar.get_attribute("data-initials")


def test_a_message_shows_its_authors_display_name_and_avatar_live_and_on_load(sign_in, ann, bob):
    profile_update(user=ann, display_name="Ann Smith")
    room = off_loop(room_create, name="Lobby", created_by=ann)
    off_loop(message_create, room=room, author=ann, body="Before", client_id="c0")
    page_b = sign_in(bob, f"/chat/{room.slug}/")
    page_a = sign_in(ann, f"/chat/{room.slug}/")

    say(page_a, "Hello from Ann")

    for text in ["Before", "Hello from Ann"]:
        row = page_b.locator(ROWS).filter(has_text=text)
        expect(row.locator(".message-author")).to_have_text("Ann Smith")
        assert avatar_of(row) == (f"avatar avatar-c{ann.pk % 12}", "AS")
    # Clicking the name still starts a direct conversation with its author.
    author = page_b.locator(ROWS).first.locator(".message-author")
    expect(author).to_have_attribute("title", "Send Ann Smith (@ann) a direct message")


def test_here_now_lists_display_names_with_avatars_and_links_to_their_pages(sign_in, ann, bob):
    profile_update(user=bob, display_name="Bob Okafor")
    room = off_loop(room_create, name="Lobby", created_by=ann)
    page_a = sign_in(ann, f"/chat/{room.slug}/")
    sign_in(bob, f"/chat/{room.slug}/")

    people = page_a.locator("#presence li")
    expect(people).to_have_text(["ann (you)", "Bob Okafor"])
    assert avatar_of(people.nth(1)) == (f"avatar avatar-c{bob.pk % 12}", "BO")
    expect(people.nth(0).get_by_role("link")).to_have_attribute("href", "/people/ann/")

    people.nth(1).get_by_role("link", name="Bob Okafor's page").click()
    expect(page_a.get_by_role("heading", name="Bob Okafor")).to_be_visible()
    expect(page_a.get_by_text("@bob")).to_be_visible()
    page_a.get_by_role("link", name="Message Bob Okafor").click()
    expect(page_a.get_by_label("Usernames")).to_have_value("bob")


def test_a_liveblog_byline_shows_the_editors_display_name_and_avatar(
    new_context, daphne_server, editor, password
):
    profile_update(user=editor, display_name="Carol Nguyen")
    coverage = off_loop(liveblog_create, title="Match day", by=editor)
    off_loop(post_create, liveblog=coverage, by=editor, body="Kick-off")
    path = coverage.get_absolute_url()
    reader = new_context().new_page()
    reader.goto(f"{daphne_server.url}{path}")
    desk = new_context().new_page()
    desk.goto(f"{daphne_server.url}/accounts/login/?next={path}")
    desk.get_by_label("Username").fill(editor.username)
    desk.get_by_label("Password").fill(password)
    desk.get_by_role("button", name="Log in").click()
    for page in (reader, desk):
        expect(page.locator("#liveblog")).to_have_attribute("data-state", "live")

    desk.get_by_label("Update", exact=True).fill("First goal")
    desk.get_by_role("button", name="Publish", exact=True).click()

    for text in ["Kick-off", "First goal"]:  # rendered by the server, then by liveblog.js
        post = reader.locator("#timeline > li.post").filter(has_text=text)
        expect(post.locator(".post-author")).to_have_text("Carol Nguyen")
        assert avatar_of(post) == (f"avatar avatar-c{editor.pk % 12}", "CN")


@pytest.mark.parametrize(
    "name", ["Alice Martin", "élodie de la Tour", "e\u0301mile zola", "山田 太郎", "ßandra x", "🙂"]
)
def test_the_page_draws_the_same_initials_as_the_server(sign_in, ann, name):
    room = off_loop(room_create, name="Lobby", created_by=ann)
    page = sign_in(ann, f"/chat/{room.slug}/")

    drawn = page.evaluate(
        "async (name) => (await import('/static/js/people.js')).initials(name)", name
    )

    assert drawn == initials(name)


def test_a_person_sets_a_display_name_that_their_next_message_carries(sign_in, ann, bob):
    room = off_loop(room_create, name="Lobby", created_by=ann)
    page_b = sign_in(bob, f"/chat/{room.slug}/")
    page_a = sign_in(ann, f"/chat/{room.slug}/")
    settings_page = page_a.context.new_page()
    settings_page.goto(page_a.url.split("/chat/")[0] + "/")
    settings_page.get_by_role("link", name="ann", exact=True).click()  # "Signed in as ann"
    settings_page.get_by_role("link", name="Edit your profile").click()
    settings_page.get_by_label("Display name").fill("Ann Smith")
    settings_page.get_by_role("button", name="Save").click()
    expect(settings_page.get_by_role("heading", name="Ann Smith")).to_be_visible()
    expect(settings_page.locator(".whoami")).to_have_text("Signed in as Ann Smith")

    # The socket opened before the change writes the new name.
    wait_live(page_a)
    say(page_a, "New name")

    row = page_b.locator(ROWS).filter(has_text="New name")
    expect(row.locator(".message-author")).to_have_text("Ann Smith")
