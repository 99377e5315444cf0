"""Liveblog pages, the feed, and the editors' HTTP writes (permissions and CSRF)."""

import json
from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.test import Client
from django.utils import timezone

from liveblog import services
from liveblog.models import Liveblog, LiveblogEvent, Post
from liveblog.selectors import PAGE

pytestmark = pytest.mark.django_db
State = Post.State
JSON = {"HTTP_ACCEPT": "application/json"}


def publish(liveblog, editor, body, **kwargs) -> Post:
    return services.post_create(liveblog=liveblog, by=editor, body=body, **kwargs)


def page_data(response) -> dict:
    return response.context["initial"]


def test_the_list_shows_live_liveblogs_first(client, make_liveblog, editor):
    ended = make_liveblog("Old news")
    services.liveblog_update(liveblog=ended, by=editor, ended=True)
    make_liveblog("Happening now")
    response = client.get("/live/")
    assert response.status_code == 200
    assert [lb.title for lb in response.context["liveblogs"]] == ["Happening now", "Old news"]
    assert b"Happening now" in client.get("/").content


def test_readers_see_published_posts_newest_first_without_javascript(client, liveblog, editor):
    publish(liveblog, editor, "First *post*")
    publish(liveblog, editor, "Second post", key_event=True, pinned=True)
    publish(liveblog, editor, "SECRET draft", state=State.DRAFT)
    response = client.get(liveblog.get_absolute_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Second post") < html.index("First <em>post</em>")
    assert "SECRET" not in html
    assert "update-input" not in html  # no composer for readers
    data = page_data(response)
    assert [p["summary"] for p in data["posts"]] == ["Second post", "First post"]
    assert data["pinned"]["summary"] == "Second post"
    assert [p["summary"] for p in data["key_events"]] == ["Second post"]
    assert data["drafts"] == []
    assert "body" not in data["posts"][0]  # readers get the rendered text only
    assert f'data-seq="{liveblog.readers_seq + 2}"' in html


def test_editors_see_the_desk_and_their_drafts(client, liveblog, editor):
    publish(liveblog, editor, "Draft text", state=State.DRAFT)
    client.force_login(editor)
    response = client.get(liveblog.get_absolute_url())
    html = response.content.decode()
    assert 'for="update-input">Update</label>' in html
    assert ">Publish</button>" in html and ">Save draft</button>" in html
    assert [p["body"] for p in page_data(response)["drafts"]] == ["Draft text"]
    assert 'data-seq="1"' in html  # the editors' stream head


def test_older_updates_page_back_with_and_without_javascript(client, liveblog, editor):
    posts = [publish(liveblog, editor, f"post {n}") for n in range(PAGE + 5)]
    first_page = page_data(client.get(liveblog.get_absolute_url()))
    assert first_page["more"] and len(first_page["posts"]) == PAGE
    oldest = first_page["posts"][-1]["id"]
    older = client.get(f"{liveblog.get_absolute_url()}history?before={oldest}").json()
    assert [p["id"] for p in older["posts"]] == [p.pk for p in reversed(posts[:5])]
    assert older["more"] is False
    no_js = client.get(f"{liveblog.get_absolute_url()}?before={oldest}")
    assert [p["id"] for p in page_data(no_js)["posts"]] == [p.pk for p in reversed(posts[:5])]
    assert client.get(f"{liveblog.get_absolute_url()}history").status_code == 400


def test_the_feed_has_published_posts_only(client, liveblog, editor):
    publish(liveblog, editor, "Out now")
    publish(liveblog, editor, "SECRET", state=State.DRAFT)
    publish(
        liveblog,
        editor,
        "SECRET later",
        state=State.SCHEDULED,
        publish_at=timezone.now() + timedelta(hours=1),
    )
    response = client.get(f"{liveblog.get_absolute_url()}feed/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    atom = "{http://www.w3.org/2005/Atom}"
    feed = ElementTree.fromstring(response.content)
    titles = [entry.find(f"{atom}title").text for entry in feed.iter(f"{atom}entry")]
    assert titles == ["Out now"]
    assert b"SECRET" not in response.content


def test_an_editor_publishes_drafts_schedules_and_changes_posts(client, liveblog, editor):
    client.force_login(editor)
    url = f"{liveblog.get_absolute_url()}posts"
    response = client.post(url, {"body": "Hello", "action": "publish", "key_event": "on"}, **JSON)
    assert response.status_code == 200
    post = Post.objects.get(pk=response.json()["post"]["id"])
    assert post.is_published and post.key_event
    # Without JavaScript the same form redirects back to the page.
    response = client.post(url, {"body": "Later", "action": "draft"})
    assert response.status_code == 302 and response["Location"] == liveblog.get_absolute_url()
    at = (timezone.now() + timedelta(hours=1)).isoformat()
    response = client.post(url, {"body": "Soon", "action": "schedule", "publish_at": at}, **JSON)
    assert response.json()["post"]["state"] == "scheduled"
    for action in ("pin", "unpin", "key", "unkey", "unpublish", "publish"):
        response = client.post(f"{url}/{post.pk}", {"action": action}, **JSON)
        assert response.status_code == 200, action
    response = client.post(f"{url}/{post.pk}", {"action": "edit", "body": "Hello!"}, **JSON)
    assert response.json()["post"]["body"] == "Hello!"
    assert client.post(f"{url}/{post.pk}", {"action": "delete"}, **JSON).status_code == 200
    assert client.post(f"{url}/{post.pk}", {"action": "pin"}, **JSON).status_code == 404


def test_bad_input_is_explained_and_saves_nothing(client, liveblog, editor):
    client.force_login(editor)
    url = f"{liveblog.get_absolute_url()}posts"
    for data in (
        {"body": " ", "action": "publish"},
        {"body": "x", "action": "shout"},
        {"body": "x", "action": "schedule"},
        {"body": "x", "action": "schedule", "publish_at": "2000-01-01T00:00:00Z"},
    ):
        response = client.post(url, data, **JSON)
        assert response.status_code == 400, data
        assert response.json()["errors"]
    assert not Post.objects.exists()


def test_an_editor_starts_and_ends_a_liveblog(client, editor):
    client.force_login(editor)
    response = client.post("/live/", {"title": "Budget day", "description": "Every line."})
    assert response.status_code == 302 and response["Location"] == "/live/budget-day/"
    assert client.post("/live/budget-day/end").status_code == 302
    assert not Liveblog.objects.get(slug="budget-day").is_live


def test_ending_asks_first_and_an_ended_liveblog_can_be_reopened(client, liveblog, editor):
    client.force_login(editor)
    base = liveblog.get_absolute_url()
    page = client.get(base).content.decode()
    assert f'href="{base}end"' in page  # a link to the question, not a one-click form
    confirm = client.get(f"{base}end")
    assert confirm.status_code == 200 and liveblog_is_live(liveblog)
    html = confirm.content.decode()
    assert f'action="{base}end"' in html and f'href="{base}"' in html  # end, or go back
    assert client.post(f"{base}end").status_code == 302
    assert not liveblog_is_live(liveblog)
    ended_page = client.get(base).content.decode()
    assert f'action="{base}reopen"' in ended_page
    assert client.post(f"{base}reopen").status_code == 302
    assert liveblog_is_live(liveblog)
    # Both audiences are told of the end and of the reopening, like any other change.
    for audience in ("readers", "editors"):
        frames = LiveblogEvent.objects.filter(liveblog=liveblog, audience=audience)
        sent = [json.loads(event.frame)["liveblog"] for event in frames.order_by("seq")]
        ended = [liveblog["ended_at"] is not None for liveblog in sent]
        assert ended == [True, False], audience


def test_readers_cannot_see_the_end_question(client, make_user, liveblog):
    assert client.get(f"{liveblog.get_absolute_url()}end").status_code == 403
    client.force_login(make_user())
    assert client.get(f"{liveblog.get_absolute_url()}end").status_code == 403


def liveblog_is_live(liveblog) -> bool:
    liveblog.refresh_from_db()
    return liveblog.is_live


@pytest.mark.parametrize("action", ["publish", "draft"])
def test_a_time_typed_with_publish_or_draft_is_refused_not_dropped(
    client, liveblog, editor, action
):
    client.force_login(editor)
    url = f"{liveblog.get_absolute_url()}posts"
    at = (timezone.now() + timedelta(hours=1)).isoformat()
    response = client.post(url, {"body": "Soon", "action": action, "publish_at": at}, **JSON)
    assert response.status_code == 400
    assert "press Schedule" in " ".join(response.json()["errors"])
    assert not Post.objects.exists()


def test_pinning_over_a_pinned_post_tells_the_editor_before_and_after(client, liveblog, editor):
    first = publish(liveblog, editor, "First", pinned=True)
    second = publish(liveblog, editor, "Second")
    client.force_login(editor)
    page = client.get(liveblog.get_absolute_url()).content.decode()
    assert page.count("Pin (replaces the pinned post)") == 1  # on the second post only
    url = f"{liveblog.get_absolute_url()}posts/{second.pk}"
    response = client.post(url, {"action": "pin"}, **JSON)
    assert "The post pinned before is no longer pinned." in response.json()["note"]
    first.refresh_from_db()
    assert not first.pinned
    # Pinning again what is pinned replaces nothing, and says nothing of it.
    response = client.post(url, {"action": "pin"}, **JSON)
    assert response.json()["note"] == "Saved."
    # Without JavaScript the same words come as a message on the page.
    url = f"{liveblog.get_absolute_url()}posts/{first.pk}"
    page = client.post(url, {"action": "pin"}, follow=True).content.decode()
    assert "The post pinned before is no longer pinned." in page


def test_key_events_show_a_headline_not_the_whole_post(client, liveblog, editor):
    long_line = "The referee checks the monitor " + "and keeps checking " * 10 + "and waits."
    publish(liveblog, editor, "## Goal for Salah\n\nA long run, then a shot.", key_event=True)
    publish(liveblog, editor, "Red card. Then more text.\n\nAnd more.", key_event=True)
    publish(liveblog, editor, long_line, key_event=True)
    page = client.get(liveblog.get_absolute_url())
    summaries = [p["summary"] for p in page_data(page)["key_events"]]
    assert summaries[1:] == ["Red card.", "Goal for Salah"]
    assert len(summaries[0]) <= 80 and summaries[0].endswith("…")
    html = page.content.decode()
    assert 'class="key-event-summary">Goal for Salah</span>' in html


def test_post_times_carry_the_full_date_and_time(client, liveblog, editor):
    today = publish(liveblog, editor, "Today")
    earlier = publish(liveblog, editor, "Earlier")
    moment = timezone.now() - timedelta(days=3)
    Post.objects.filter(pk=earlier.pk).update(published_at=moment)
    html = client.get(liveblog.get_absolute_url()).content.decode()
    at = timezone.localtime(today.published_at)
    assert (
        f'<time datetime="{at.isoformat()}" title="{at:%A} {at.day} {at:%B %Y, %H:%M}">'
        f"{at:%H:%M}</time>"
    ) in html
    assert f">{moment.day} {moment:%b %H:%M}</time>" in html
    assert (
        '<span class="post-ago"' in html
        and ">3 d ago</span>" in html
        and ">just now</span>" in html
    )


def test_without_javascript_the_page_claims_no_connection(client, liveblog, editor):
    html = client.get(liveblog.get_absolute_url()).content.decode()
    assert "Connecting" not in html
    assert '<noscript><span class="connection">Refresh the page for new updates' in html
    services.liveblog_update(liveblog=liveblog, by=editor, ended=True)
    assert "Refresh the page" not in client.get(liveblog.get_absolute_url()).content.decode()


@pytest.mark.parametrize("who", ["anonymous", "reader"])
def test_anonymous_users_and_readers_cannot_write(client, make_user, liveblog, editor, who):
    post = publish(liveblog, editor, "Hello")
    if who == "reader":
        client.force_login(make_user())
    base = liveblog.get_absolute_url()
    attempts = [
        ("/live/", {"title": "Mine"}),
        (f"{base}posts", {"body": "Hacked", "action": "publish"}),
        (f"{base}posts/{post.pk}", {"action": "edit", "body": "Hacked"}),
        (f"{base}posts/{post.pk}", {"action": "delete"}),
        (f"{base}preview", {"body": "x"}),
        (f"{base}end", {}),
        (f"{base}reopen", {}),
    ]
    events = LiveblogEvent.objects.count()
    for url, data in attempts:
        assert client.post(url, data).status_code == 403, url
    assert LiveblogEvent.objects.count() == events
    assert Liveblog.objects.count() == 1 and Post.objects.get().body == "Hello"


def test_writes_need_the_csrf_token(liveblog, editor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    url = f"{liveblog.get_absolute_url()}posts"
    assert client.post(url, {"body": "x", "action": "publish"}).status_code == 403
    page = client.get(liveblog.get_absolute_url())
    token = page.context["csrf_token"]
    response = client.post(url, {"body": "x", "action": "publish"}, HTTP_X_CSRFTOKEN=str(token))
    assert response.status_code == 302
    assert Post.objects.count() == 1


def test_the_preview_renders_like_publishing(client, liveblog, editor):
    client.force_login(editor)
    body = "**bold** <b onmouseover=alert(1)>x</b> [a](javascript:alert(1))"
    html = client.post(f"{liveblog.get_absolute_url()}preview", {"body": body}).json()["html"]
    assert html == publish(liveblog, editor, body).html
    assert "<strong>bold</strong>" in html and "<b " not in html


def test_page_data_is_json_the_page_script_can_read(client, liveblog, editor):
    publish(liveblog, editor, "</script><script>alert(1)</script>")
    html = client.get(liveblog.get_absolute_url()).content.decode()
    start = html.index('<script id="initial-posts" type="application/json">')
    data = html[start:].split(">", 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["posts"][0]["summary"] == "</script><script>alert(1)</script>"
