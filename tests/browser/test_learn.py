"""The tutorial at /learn/ in Chromium: the contents, then every chapter, under the CSP."""

import pytest
from playwright.sync_api import expect

from tests.support.harness import DaphneServer
from website import tutorial

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reader_follows_next_from_the_contents_through_every_chapter(
    new_context, daphne_server: DaphneServer
):
    page = new_context().new_page()
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))

    response = page.goto(f"{daphne_server.url}/learn/")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]

    chapters = tutorial.chapter_list()
    for index, chapter in enumerate(chapters):
        expect(page.locator("article.tutorial-chapter")).to_have_attribute(
            "data-chapter", chapter.slug
        )
        expect(page.locator("article h1")).to_have_count(1)
        expect(page.locator(".tutorial-contents [aria-current=page]")).to_have_text(chapter.title)
        # The site's stylesheet applies: the CSP let it load.
        assert page.locator(".tutorial").evaluate("e => getComputedStyle(e).display") == "grid"
        if index + 1 < len(chapters):
            page.locator('a[rel="next"]').click()
            page.wait_for_url(f"{daphne_server.url}{chapters[index + 1].url}")
    expect(page.locator('a[rel="next"]')).to_have_count(0)

    assert problems == []


def test_a_listing_links_to_its_region_in_the_file(new_context, daphne_server: DaphneServer):
    page = new_context().new_page()
    page.goto(f"{daphne_server.url}/learn/02-asgi/")

    page.get_by_role("link", name="project/asgi.py", exact=True).first.click()

    page.wait_for_url(f"{daphne_server.url}/learn/source/project/asgi.py#django-first")
    expect(page.locator("#django-first")).to_have_count(1)
    expect(page.locator(".tutorial-source pre")).to_contain_text("get_asgi_application()")
