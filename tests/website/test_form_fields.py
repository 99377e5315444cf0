"""templates/form_fields.html: every field's description is the element it points to."""

from html.parser import HTMLParser

import pytest

pytestmark = pytest.mark.django_db


class References(HTMLParser):
    """The ids on a page, and each aria-describedby's ids by the element that has it."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.described: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if attributes.get("aria-describedby"):
            name = attributes.get("name") or attributes.get("id") or tag
            self.described[name] = attributes["aria-describedby"].split()


def missing_descriptions(html: str) -> dict[str, list[str]]:
    page = References()
    page.feed(html)
    assert page.described, "no field on the page has a description"
    return {
        name: [ref for ref in refs if ref not in page.ids]
        for name, refs in page.described.items()
        if any(ref not in page.ids for ref in refs)
    }


def test_the_sign_up_fields_point_at_their_help(client):
    assert missing_descriptions(client.get("/accounts/signup/").content.decode()) == {}


def test_the_sign_up_fields_point_at_their_help_when_the_form_has_errors(client):
    response = client.post(
        "/accounts/signup/", {"username": "ann", "password1": "x", "password2": "y"}
    )

    assert response.context["form"].errors
    assert missing_descriptions(response.content.decode()) == {}


def test_the_new_room_form_points_at_its_help(client, user):
    client.force_login(user)

    assert missing_descriptions(client.get("/chat/").content.decode()) == {}
