"""Message search: one selector, PostgreSQL full-text search or SQLite FTS5 beneath it.

Marked `stack`: they run again on PostgreSQL + Redis, so both engines answer the
same questions the same way.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import services
from chat.models import Message, Room
from chat.selectors import message_around, message_search
from tests.support.stack import ON_REDIS_STACK

pytestmark = [pytest.mark.django_db, pytest.mark.stack]


@pytest.fixture
def ann(make_user):
    return make_user(username="ann")


@pytest.fixture
def bob(make_user):
    return make_user(username="bob")


@pytest.fixture
def say(ann):
    counter = iter(range(1_000_000))

    def send(room, body, author=None):
        message, _ = services.message_create(
            room=room, author=author or ann, body=body, client_id=f"c{next(counter)}"
        )
        return message

    return send


def found(user, query, **kwargs) -> list[str]:
    return [result.message.body for result in message_search(user=user, query=query, **kwargs)]


def marked(result) -> list[str]:
    return [text for text, matched in result.snippet if matched]


def test_a_search_finds_the_messages_with_every_word_newest_first(ann, make_room, say):
    lobby, side = make_room("Lobby"), make_room("Side")
    say(lobby, "The deploy went well")
    say(side, "Another deploy is planned")
    say(lobby, "Lunch is ready")
    say(side, "Deploy Friday? No.")

    assert found(ann, "deploy") == [
        "Deploy Friday? No.",
        "Another deploy is planned",
        "The deploy went well",
    ]
    assert found(ann, "deploy planned") == ["Another deploy is planned"]
    assert found(ann, "  DEPLOY   went ") == ["The deploy went well"]
    assert found(ann, "dinner") == []
    assert found(ann, "") == [] and found(ann, "   ") == []


def test_each_result_has_its_room_author_time_and_a_snippet_with_the_matches_marked(
    ann, make_room, say
):
    lobby = make_room("Lobby")
    message = say(lobby, "Shall we meet at the station, or at the café by the station?")

    (result,) = message_search(user=ann, query="station café")

    assert result.message == message and result.room == lobby
    assert result.message.author == ann and result.message.created_at == message.created_at
    assert marked(result) == ["station", "café", "station"]
    assert "station, or at the café by the station" in "".join(text for text, _ in result.snippet)


def test_results_come_a_page_at_a_time_before_a_message(ann, make_room, say):
    lobby = make_room("Lobby")
    messages = [say(lobby, f"note number {n}") for n in range(5)]

    first = message_search(user=ann, query="note", limit=2)
    second = message_search(user=ann, query="note", limit=2, before=first[-1].message.pk)

    assert [r.message for r in first] == [messages[4], messages[3]]
    assert [r.message for r in second] == [messages[2], messages[1]]


def test_private_rooms_and_direct_conversations_are_searched_by_their_members_only(
    ann, bob, make_user, make_room, say
):
    carol = make_user(username="carol")
    public = make_room("Lobby")
    secret = services.room_create(name="Secret", created_by=ann, kind=Room.Kind.PRIVATE)
    dm = services.dm_open(by=ann, users=[bob])
    say(public, "launch day in the lobby")
    say(secret, "launch day in secret")
    say(dm, "launch day between us")

    assert found(ann, "launch") == [
        "launch day between us",
        "launch day in secret",
        "launch day in the lobby",
    ]
    assert found(bob, "launch") == ["launch day between us", "launch day in the lobby"]
    assert found(carol, "launch") == ["launch day in the lobby"]

    services.member_add(room=secret, by=ann, user=carol)
    assert found(carol, "secret") == ["launch day in secret"]
    services.member_remove(room=secret, by=ann, user=carol)
    assert found(carol, "secret") == []


def test_an_edit_replaces_the_text_that_is_found(ann, make_room, say):
    lobby = make_room("Lobby")
    message = say(lobby, "meet at noon")

    services.message_edit(room=lobby, message_id=message.pk, by=ann, body="meet at dusk")

    assert found(ann, "noon") == []
    assert found(ann, "dusk") == ["meet at dusk"]
    assert found(ann, "meet") == ["meet at dusk"]


def test_a_deleted_message_is_never_found(ann, make_room, say):
    lobby = make_room("Lobby")
    kept = say(lobby, "the password is swordfish, said nobody")
    gone = say(lobby, "the password is swordfish")

    services.message_delete(room=lobby, message_id=gone.pk, by=ann)

    assert [r.message for r in message_search(user=ann, query="swordfish")] == [kept]
    assert found(ann, "password swordfish") == ["the password is swordfish, said nobody"]


@pytest.mark.parametrize(
    "query",
    [
        "a OR",
        "OR",
        "AND NOT",
        '"',
        '"unbalanced',
        "*",
        "hel*",
        "NEAR(",
        "NEAR(a b)",
        "body:x",
        "chat_message_search:x",
        "-x",
        "(",
        ")",
        "^x",
        "'",
        "\\",
        "x & y | !z",
        "<->",
        "{a b}",
        "%",
        "_",
        "; DROP TABLE chat_message; --",
    ],
)
def test_any_text_is_a_safe_query(ann, make_room, say, query):
    lobby = make_room("Lobby")
    say(lobby, "an ordinary message")

    assert found(ann, query) == []
    assert found(ann, f"{query} ordinary") in ([], ["an ordinary message"])
    assert found(ann, "ordinary") == ["an ordinary message"]


def test_operators_in_a_query_are_searched_as_words(ann, make_room, say):
    lobby = make_room("Lobby")
    say(lobby, "a OR b")
    say(lobby, "we are near the end")
    say(lobby, "x AND y")

    assert found(ann, "a OR") == ["a OR b"]
    assert found(ann, "or") == ["a OR b"]
    assert found(ann, "NEAR(") == ["we are near the end"]
    assert found(ann, '"near" end*') == ["we are near the end"]
    assert found(ann, "and") == ["x AND y"]


def test_words_in_angle_brackets_or_markup_are_found_like_any_other(ann, make_room, say):
    lobby = make_room("Lobby")
    say(lobby, "The <quarterly> numbers")
    say(lobby, "wrap it in <div class=box>")
    say(lobby, "`a<b` and *emphasis*")

    assert found(ann, "quarterly") == ["The <quarterly> numbers"]
    assert found(ann, "div box") == ["wrap it in <div class=box>"]
    assert found(ann, "b") == ["`a<b` and *emphasis*"]
    assert found(ann, "emphasis") == ["`a<b` and *emphasis*"]


def test_no_message_text_passes_for_a_match_mark(ann, make_room, say):
    lobby = make_room("Lobby")
    body = "<mark>fake</mark> &lt;b&gt; [x: and :x] \x02 <i>real</i>"
    say(lobby, body)

    (result,) = message_search(user=ann, query="real")

    assert marked(result) == ["real"]
    # The snippet is the message's own text (a part of it), tags and entities as written.
    assert "".join(text for text, _ in result.snippet) in body
    assert "".join(text for text, _ in result.snippet).endswith("<i>real</i>")


@pytest.mark.postgres
def test_postgresql_searches_through_the_gin_index(ann, make_room, say):
    lobby = make_room("Lobby")
    # A room of many messages, one with the word: the room's own index would find them
    # all, so only the search index narrows them down.
    Message.objects.bulk_create(
        Message(room=lobby, author=ann, body=f"filler {n}", html="", client_id=f"f{n}", seq=n + 1)
        for n in range(1, 3001)
    )
    services.message_create(room=lobby, author=ann, body="indexed words", client_id="c")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chat_message")
    with CaptureQueriesContext(connection) as queries:
        assert found(ann, "indexed") == ["indexed words"]
    (search,) = [q["sql"] for q in queries.captured_queries if "plainto_tsquery" in q["sql"]]

    with connection.cursor() as cursor:
        # The planner may still read a small table whole; not a large one.
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute(f"EXPLAIN {search}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")

    assert "Bitmap Index Scan on chat_message_search" in plan, plan


@pytest.mark.skipif(ON_REDIS_STACK, reason="the FTS5 table is the embedded default's (SQLite)")
def test_sqlite_keeps_the_fts5_table_in_step_with_the_messages(ann, make_room, say):
    lobby = make_room("Lobby")
    edited, deleted = say(lobby, "alpha one"), say(lobby, "alpha two")
    say(lobby, "alpha three")
    services.message_edit(room=lobby, message_id=edited.pk, by=ann, body="beta one")
    services.message_delete(room=lobby, message_id=deleted.pk, by=ann)

    def indexed(word: str) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT rowid FROM chat_message_search WHERE chat_message_search MATCH %s "
                "ORDER BY rowid",
                [word],
            )
            return [row[0] for row in cursor.fetchall()]

    assert len(indexed("alpha")) == 1 and indexed("beta") == [edited.pk]
    lobby.delete()
    assert indexed("alpha") == [] and indexed("beta") == []
    # Every migration since keeps the triggers: one that rebuilt chat_message drops them.
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
        triggers = [row[0] for row in cursor.fetchall()]
    assert triggers == [
        "chat_message_search_delete",
        "chat_message_search_insert",
        "chat_message_search_update",
    ]


def test_a_message_is_shown_with_the_history_around_it(ann, make_room, say):
    lobby = make_room("Lobby")
    messages = [say(lobby, f"m{n}") for n in range(100)]

    page, more, newer = message_around(room=lobby, message_id=messages[40].pk, limit=10)

    assert [m.body for m in page] == [f"m{n}" for n in range(35, 45)]
    assert more and newer
    page, more, newer = message_around(room=lobby, message_id=messages[2].pk, limit=10)
    assert [m.body for m in page] == [f"m{n}" for n in range(0, 7)] and not more and newer
    page, more, newer = message_around(room=lobby, message_id=messages[98].pk, limit=10)
    assert [m.body for m in page] == [f"m{n}" for n in range(93, 100)] and more and not newer
    assert message_around(room=make_room("Other"), message_id=messages[5].pk) is None


# The page ---------------------------------------------------------------------------


def test_the_search_page_needs_a_signed_in_user(client):
    response = client.get("/chat/search/", {"q": "x"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_search_page_lists_results_that_link_to_each_message_in_its_room(
    client, ann, make_room, say
):
    lobby = make_room("Lobby")
    message = say(lobby, "<script>alert('x')</script> the <b>plan</b> & the PLAN")
    client.force_login(ann)

    response = client.get("/chat/search/", {"q": "plan"})

    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="/chat/{lobby.slug}/?at={message.pk}"' in page
    assert "<script>alert" not in page and "<b>plan" not in page
    assert "&lt;b&gt;<mark>plan</mark>&lt;/b&gt; &amp; the <mark>PLAN</mark>" in page
    assert 'value="plan"' in page


def test_the_search_page_shows_the_next_page_of_older_results(
    client, ann, make_room, say, settings
):
    settings.CHAT_SEARCH_RESULTS = 2
    lobby = make_room("Lobby")
    messages = [say(lobby, f"note {n}") for n in range(3)]
    client.force_login(ann)

    first = client.get("/chat/search/", {"q": "note"})
    second = client.get("/chat/search/", {"q": "note", "before": messages[1].pk})

    assert [r.message for r in first.context["results"]] == [messages[2], messages[1]]
    assert f'href="?q=note&amp;before={messages[1].pk}" rel="next"' in first.content.decode()
    assert [r.message for r in second.context["results"]] == [messages[0]]
    assert second.context["older"] is None


def test_an_empty_search_shows_the_form_and_no_results(client, ann):
    client.force_login(ann)
    response = client.get("/chat/search/")
    assert response.status_code == 200 and response.context["results"] == []
    assert b'role="search"' in response.content


def test_a_query_longer_than_the_limit_is_refused_without_searching(client, ann, settings):
    settings.CHAT_SEARCH_QUERY_MAX = 10
    client.force_login(ann)

    response = client.get("/chat/search/", {"q": "x" * 11})

    assert response.status_code == 400
    assert "at most 10 characters" in response.content.decode()
    assert client.get("/chat/search/", {"q": "x" * 10}).status_code == 200


def test_searching_too_often_is_refused_for_a_while(client, ann, settings):
    settings.CHAT_SEARCH_LIMIT = 2
    client.force_login(ann)

    statuses = [client.get("/chat/search/", {"q": "x"}).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert "searched a lot lately" in client.get("/chat/search/", {"q": "x"}).content.decode()


def test_a_room_named_search_does_not_hide_the_search_page(ann):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.room_create(name="Search", created_by=ann)


def test_the_room_page_opens_at_a_message_with_the_history_around_it(client, ann, make_room, say):
    lobby = make_room("Lobby")
    messages = [say(lobby, f"m{n}") for n in range(120)]
    client.force_login(ann)

    response = client.get(f"/chat/{lobby.slug}/", {"at": messages[10].pk})

    initial = response.context["initial"]
    assert initial["at"] == messages[10].pk
    assert [m["body"] for m in initial["messages"]] == [f"m{n}" for n in range(0, 35)]
    assert initial["more"] is False and initial["newer"] is True
    # A message of another room, or no message, opens the room at its latest messages.
    other = say(make_room("Other"), "elsewhere")
    for at in (other.pk, "x", 0):
        initial = client.get(f"/chat/{lobby.slug}/", {"at": at}).context["initial"]
        assert "at" not in initial and initial["messages"][-1]["body"] == "m119"


def test_the_history_opens_around_a_message_and_pages_newer_messages_after_it(
    client, ann, make_room, say
):
    lobby = make_room("Lobby")
    messages = [say(lobby, f"m{n}") for n in range(120)]
    client.force_login(ann)
    history = f"/chat/{lobby.slug}/history"

    around = client.get(history, {"around": messages[60].pk}).json()
    after = client.get(history, {"after": messages[84].pk}).json()
    last = client.get(history, {"after": messages[100].pk}).json()

    assert around["at"] == messages[60].pk and around["room"]["slug"] == lobby.slug
    assert [m["body"] for m in around["messages"]] == [f"m{n}" for n in range(35, 85)]
    assert around["more"] is True and around["newer"] is True and around["head"] == 120
    assert [m["body"] for m in after["messages"]] == [f"m{n}" for n in range(85, 120)]
    assert after["newer"] is False
    assert [m["body"] for m in last["messages"]] == [f"m{n}" for n in range(101, 120)]
    assert client.get(history, {"after": "x"}).status_code == 400


def test_a_private_room_is_not_opened_at_a_message_for_someone_outside_it(client, ann, bob, say):
    secret = services.room_create(name="Secret", created_by=ann, kind=Room.Kind.PRIVATE)
    message = say(secret, "hidden")
    client.force_login(bob)

    assert client.get(f"/chat/{secret.slug}/", {"at": message.pk}).status_code == 404
    assert client.get(f"/chat/{secret.slug}/history", {"around": message.pk}).status_code == 404
    assert client.get(f"/chat/{secret.slug}/history", {"after": 0}).status_code == 404
    assert client.get("/chat/search/", {"q": "hidden"}).context["results"] == []
