"""Sockets open at once: SOCKETS_PER_USER per signed-in user, SOCKETS_PER_ADDRESS per address
for anonymous ones, counted across processes on the presence rows; one more is closed with 4429.

Marked `stack`: these run on the embedded default and again on PostgreSQL + Redis.
"""

import asyncio
from datetime import timedelta

import pytest
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from project.asgi import application
from streams.limits import CLOSE_TOO_MANY_SOCKETS
from streams.models import Presence
from streams.proxies import client_address
from tests.support.harness import websocket_headers
from tests.support.orm import db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

HERE = "198.51.100.7"


@pytest.fixture
def limits(settings) -> None:
    settings.SOCKETS_PER_USER = 3
    settings.SOCKETS_PER_ADDRESS = 3


@pytest.fixture
def liveblog(editor):
    """A stream anyone may listen to, signed in or not."""
    from liveblog.services import liveblog_create

    return liveblog_create(title="Launch day", by=editor)


@pytest.fixture
def open_socket(login_cookie):
    """`await open_socket(path, user=None, address=HERE)` -> (communicator, close code or None)."""
    opened = []

    async def open_one(path: str, *, user=None, address: str = HERE, forwarded: str | None = None):
        cookie = await db(login_cookie)(user) if user is not None else None
        headers = websocket_headers(origin="http://testserver", cookie=cookie)
        if forwarded is not None:
            headers.append((b"x-forwarded-for", forwarded.encode()))
        communicator = WebsocketCommunicator(application, path, headers=headers)
        # The communicator's scope has no peer address of its own; daphne's has.
        communicator.scope["client"] = (address, 50000)
        opened.append(communicator)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        first = await communicator.receive_output(5)
        if first["type"] == "websocket.close":
            return communicator, first["code"]
        return communicator, None

    yield open_one


async def close_all(communicators) -> None:
    for communicator in communicators:
        await communicator.disconnect()


async def test_an_anonymous_socket_past_the_limit_for_its_address_is_closed_with_4429(
    open_socket, limits, liveblog
):
    path = f"/ws/liveblog/{liveblog.slug}/"
    opened = [await open_socket(path) for _ in range(3)]
    assert [code for _, code in opened] == [None, None, None]

    over, code = await open_socket(path)

    assert code == CLOSE_TOO_MANY_SOCKETS
    assert await db(Presence.objects.filter(address=HERE).count)() == 3
    # Another address has sockets of its own; and one closed makes room for one more.
    elsewhere, code_elsewhere = await open_socket(path, address="203.0.113.5")
    assert code_elsewhere is None
    await opened[0][0].disconnect()
    again, code_again = await open_socket(path)
    assert code_again is None
    await close_all([c for c, _ in opened[1:]] + [over, elsewhere, again])


async def test_a_user_past_the_limit_is_closed_with_4429_on_any_stream(
    open_socket, limits, make_user, liveblog
):
    from chat.services import room_create

    ann = await db(make_user)(username="ann")
    room = await db(room_create)(name="Lobby", created_by=None)
    paths = [f"/ws/chat/{room.slug}/", f"/ws/liveblog/{liveblog.slug}/"]
    opened = [await open_socket(paths[n % 2], user=ann, address=f"192.0.2.{n}") for n in range(3)]
    assert [code for _, code in opened] == [None, None, None]

    over, code = await open_socket(paths[1], user=ann, address="192.0.2.99")
    assert code == CLOSE_TOO_MANY_SOCKETS
    # Signed-in users count per user, not against their address's anonymous sockets.
    anonymous, anonymous_code = await open_socket(paths[1], address="192.0.2.0")
    assert anonymous_code is None
    await close_all([c for c, _ in opened] + [over, anonymous])


async def test_sockets_opening_at_once_never_pass_the_limit_together(open_socket, limits, liveblog):
    path = f"/ws/liveblog/{liveblog.slug}/"

    opened = await asyncio.gather(*(open_socket(path) for _ in range(12)))

    admitted = [code for _, code in opened if code is None]
    assert 1 <= len(admitted) <= 3
    assert all(code in (None, CLOSE_TOO_MANY_SOCKETS) for _, code in opened)
    await close_all([c for c, _ in opened])


async def test_sockets_of_a_process_that_died_stop_counting_once_their_rows_go_stale(
    open_socket, limits, liveblog, settings
):
    # What a killed process leaves: rows nobody refreshes any more.
    stale = timezone.now() - timedelta(seconds=settings.PRESENCE_TTL + 1)
    await db(Presence.objects.bulk_create)(
        [
            Presence(stream="gone", socket_id=f"dead{n}", address=HERE, last_seen=stale)
            for n in range(3)
        ]
    )

    path = f"/ws/liveblog/{liveblog.slug}/"
    opened = [await open_socket(path) for _ in range(4)]

    assert [code for _, code in opened] == [None, None, None, CLOSE_TOO_MANY_SOCKETS]
    await close_all([c for c, _ in opened])


async def test_behind_a_trusted_proxy_anonymous_sockets_count_for_the_address_it_forwards(
    open_socket, limits, liveblog, settings
):
    settings.TRUSTED_PROXIES = ["10.0.0.2"]
    path = f"/ws/liveblog/{liveblog.slug}/"
    opened = [
        await open_socket(path, address="10.0.0.2", forwarded=f"192.0.2.{n}") for n in range(4)
    ]
    assert [code for _, code in opened] == [None] * 4
    same = [await open_socket(path, address="10.0.0.2", forwarded="192.0.2.0") for _ in range(3)]
    assert [code for _, code in same] == [None, None, CLOSE_TOO_MANY_SOCKETS]
    # A client that reaches the app past the proxy cannot pick its address.
    direct, code = await open_socket(path, address="203.0.113.9", forwarded="192.0.2.50")
    assert code is None
    assert await db(Presence.objects.filter(address="192.0.2.50").count)() == 0
    await close_all([c for c, _ in opened + same] + [direct])


def test_the_forwarded_address_is_believed_only_from_a_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_address(peer="10.0.0.2", forwarded_for="192.0.2.1") == "192.0.2.1"
    # nginx replaces the header; anything else appends to it: the last hop is the one vouched for.
    assert client_address(peer="10.0.0.2", forwarded_for="6.6.6.6, 192.0.2.1") == "192.0.2.1"
    assert client_address(peer="10.0.0.2", forwarded_for="not an address") == "10.0.0.2"
    assert client_address(peer="203.0.113.9", forwarded_for="192.0.2.1") == "203.0.113.9"
    assert client_address(peer="10.0.0.2", forwarded_for=None) == "10.0.0.2"
