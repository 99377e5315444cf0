"""The compose topology run natively (tests/support/topology.py), driven through nginx in Chromium.

Two daphne replicas behind nginx, gunicorn for plain HTTP, the worker, on
PostgreSQL and Redis: static files load, people on different replicas chat and
share presence, an editor's update (served by gunicorn) reaches a reader on a
replica, a foreign Origin (or the site's own over plain HTTP) is refused, and
a replica stopped mid-conversation costs its clients nothing.
"""

import json
import re
import ssl
import threading
import time

import pytest
from playwright.sync_api import Page, expect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.browser import ROWS, rows, say, wait_live
from tests.support.topology import NativeTopology

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-123"


@pytest.fixture(autouse=True)
def _kept_together(browser_name: str) -> None:
    """Every test here takes pytest-playwright's browser parameter, as the Chromium ones do:
    pytest orders tests by such parameters, and would otherwise split the module in two
    and start its topology twice."""


@pytest.fixture
def open_page(new_context, topology: NativeTopology):
    """`open_page(path, username=None)` -> a page through nginx, signed in if a name is given."""

    def open_(path: str, username: str | None = None) -> Page:
        page = new_context(ignore_https_errors=True).new_page()
        if username is None:
            page.goto(topology.url + path)
        else:
            page.goto(f"{topology.url}/accounts/login/?next={path}")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(topology.url + path)
        return page

    yield open_
    for context in new_context.contexts:
        context.close()


def on_replica(topology: NativeTopology, open_socket) -> tuple[Page, int]:
    """Open a page whose socket lands on a replica; (page, which replica)."""
    before = topology.replica_connections()
    page = open_socket()
    deadline = time.monotonic() + 10
    while (after := topology.replica_connections()) == before:
        assert time.monotonic() < deadline, "no replica logged the handshake"
        time.sleep(0.05)
    (replica,) = [n for n, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    return page, replica


def on_other_replica(topology: NativeTopology, open_socket, taken: int) -> tuple[Page, int]:
    """Like on_replica, on a replica other than `taken` (nginx picks; try again if it must)."""
    for _attempt in range(12):
        page, replica = on_replica(topology, open_socket)
        if replica != taken:
            return page, replica
        page.close()
    raise AssertionError("nginx sent every socket to the same replica")


def test_static_files_are_served_by_nginx_for_good(topology):
    status, body, _ = topology.get("/")
    assert status == 200
    css = re.search(rb"/static/css/site\.[0-9a-f]{12}\.css", body).group(0).decode()
    status, _, headers = topology.get(css)
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Strict-Transport-Security" in headers
    # Served from the static volume: gunicorn never saw the request.
    assert css not in topology.http.log_path.read_text()
    # Plain HTTP only redirects to HTTPS.
    assert topology.https_port and topology.http_port


def test_two_people_on_different_replicas_chat_and_share_presence(topology, open_page):
    alice, a = on_replica(topology, lambda: wait_live(open_page("/chat/lobby/", "alice")))
    bob, b = on_other_replica(topology, lambda: wait_live(open_page("/chat/lobby/", "bob")), a)
    assert a != b
    expect(alice.locator("#presence li")).to_have_text(["Alice Martin (you)", "Bob Okafor"])
    expect(bob.locator("#presence li")).to_have_text(["Alice Martin", "Bob Okafor (you)"])
    say(alice, "Hello from one replica")
    expect(bob.locator(ROWS).last).to_contain_text("Hello from one replica")
    say(bob, "And hello from the other")
    expect(alice.locator(ROWS).last).to_contain_text("And hello from the other")
    assert rows(alice) == rows(bob)


def test_an_editors_update_reaches_a_reader_on_a_replica(topology, open_page):
    desk = open_page("/live/release-day/", "carol")
    expect(desk.locator("#liveblog")).to_have_attribute("data-state", "live")
    reader, _ = on_replica(topology, lambda: open_page("/live/release-day/"))
    expect(reader.locator("#liveblog")).to_have_attribute("data-state", "live")
    desk.get_by_label("Update", exact=True).fill("Published through gunicorn")
    desk.get_by_role("button", name="Publish", exact=True).click()
    expect(reader.locator("#timeline > li.post").first).to_contain_text(
        "Published through gunicorn"
    )

    # gunicorn logs the request once its response is out, which may be after
    # the broadcast reached the reader.
    def served_by_gunicorn() -> bool:
        return "POST /live/release-day/posts" in topology.http.log_path.read_text()

    deadline = time.monotonic() + 10
    while not served_by_gunicorn():
        assert time.monotonic() < deadline, "gunicorn never logged the editor's POST"
        time.sleep(0.05)


OPEN_SOCKET = """url => new Promise(resolve => {
  const socket = new WebSocket(url);
  socket.onmessage = event => { resolve(JSON.parse(event.data).type); socket.close(); };
  socket.onclose = event => resolve(`closed ${event.code}`);
})"""


def test_a_page_of_a_foreign_origin_cannot_open_a_socket(topology, new_context):
    """In Chromium: the site's own page opens the socket; a page of another site cannot."""
    url = topology.url.replace("https", "wss") + "/ws/liveblog/release-day/"
    page = new_context(ignore_https_errors=True).new_page()
    page.goto(topology.url + "/live/")
    assert page.evaluate(OPEN_SOCKET, url) == "stream.ready"
    # A page served from elsewhere (faked here, so no network is needed).
    page.route(
        "https://evil.example/",
        lambda route: route.fulfill(
            body="<!doctype html><title>x</title>", content_type="text/html"
        ),
    )
    page.goto("https://evil.example/")
    assert page.evaluate(OPEN_SOCKET, url) == "closed 1006"


def test_a_foreign_origin_is_refused(topology):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    url = topology.url.replace("https", "wss") + "/ws/liveblog/release-day/"

    def handshake(origin: str):
        try:
            # Generous: a handshake answers in milliseconds, but a busy 2-core CI
            # machine running Chromium beside the topology has stalled one for 5 s.
            with connect(url, origin=origin, ssl=context, open_timeout=30) as socket:
                return json.loads(socket.recv(timeout=30))["type"]
        except InvalidStatus as refused:
            return refused.response.status_code

    assert handshake(topology.url) == "stream.ready"
    assert handshake("https://evil.example") == 403
    assert handshake(topology.url.replace("127.0.0.1", "localhost")) == 403
    # The site's own name and port, but over plain HTTP: a page anyone on the
    # path could have written.
    assert handshake(topology.url.replace("https://", "http://")) == 403


def test_a_replica_stopped_mid_conversation_costs_its_clients_nothing(topology, open_page):
    alice, a = on_replica(topology, lambda: wait_live(open_page("/chat/django-channels/", "alice")))
    bob, _ = on_other_replica(
        topology, lambda: wait_live(open_page("/chat/django-channels/", "bob")), a
    )
    say(bob, "Before the restart")
    expect(alice.locator(ROWS).last).to_contain_text("Before the restart")

    health: list[int] = []
    watching = threading.Event()

    def watch_health() -> None:
        while not watching.is_set():
            health.append(topology.get("/healthz")[0])
            time.sleep(0.1)

    watcher = threading.Thread(target=watch_health)
    watcher.start()
    try:
        # alice's replica goes, as `docker compose stop` (SIGTERM) does it, and
        # exits cleanly.
        assert topology.stop_replica(a) == 0
        # bob keeps talking meanwhile; alice's page reconnects to the other replica.
        for n in range(1, 4):
            say(bob, f"During the restart {n}")
        # All stored before alice speaks (one over bob's send limit is retried later).
        expect(bob.locator("#messages li.message.pending")).to_have_count(0)
        wait_live(alice)
        say(alice, "Back, on the other replica")
        expect(bob.locator(ROWS).last).to_contain_text("Back, on the other replica")
    finally:
        watching.set()
        watcher.join()
    assert health and set(health) == {200}, health

    fresh = wait_live(open_page("/chat/django-channels/", "alice"))
    expect(fresh.locator(ROWS).last).to_contain_text("Back, on the other replica")
    for page in (alice, bob):
        expect(page.locator(ROWS)).to_have_count(len(rows(fresh)))
        assert rows(page) == rows(fresh)
    bodies = [body for _id, _author, body in rows(fresh)]
    assert len(bodies) == len(set(bodies)), "a message shown twice"
    assert bodies[-5:] == [
        "Before the restart",
        "During the restart 1",
        "During the restart 2",
        "During the restart 3",
        "Back, on the other replica",
    ]
