"""Sockets that open at once share their trips to the database (streams/opening.py).

A connect storm costs a bounded number of statements, whatever the number of
sockets: the handshakes' sessions and users, the streams' authorisation, the
admission rows and the replays' heads and first batches are each read or
written for all the sockets waiting at once.

Marked `stack`: these run on the embedded default and again on PostgreSQL + Redis.
"""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from channels.db import DatabaseSyncToAsync
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections
from django.test.utils import CaptureQueriesContext

from chat import services
from project.asgi import application
from streams.limits import CLOSE_TOO_MANY_SOCKETS
from streams.models import Presence
from tests.support.harness import websocket_headers
from tests.support.orm import db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]


@dataclass
class Cost:
    trips: int = 0
    statements: int = 0


@contextmanager
def trips_counted() -> Iterator[Cost]:
    """Count the calls through database_sync_to_async while the block runs."""
    cost = Cost()
    handler = DatabaseSyncToAsync.thread_handler

    def counted(self, *args, **kwargs):
        cost.trips += 1
        return handler(self, *args, **kwargs)

    DatabaseSyncToAsync.thread_handler = counted  # type: ignore[method-assign]
    try:
        yield cost
    finally:
        DatabaseSyncToAsync.thread_handler = handler  # type: ignore[method-assign]


async def connect_cost(
    paths_and_cookies: list[tuple[str, str]], joins: list[str] = ()
) -> tuple[Cost, list]:
    """Open the sockets all at once, each joining `joins` (on /ws/); the trips and statements
    it took until each was ready on every stream."""
    # Every database call runs on the one thread for sync code: capture there.
    capture = await db(lambda: CaptureQueriesContext(connections["default"]).__enter__())()
    communicators = [
        WebsocketCommunicator(
            application, path, headers=websocket_headers(origin="http://testserver", cookie=cookie)
        )
        for path, cookie in paths_and_cookies
    ]
    with trips_counted() as cost:
        opened = await asyncio.gather(*(c.connect(timeout=10) for c in communicators))
        assert all(connected for connected, _ in opened)
        for communicator in communicators:
            for name in joins:
                await communicator.send_json_to({"type": "stream.join", "stream": name})
        for communicator in communicators:
            for _ready in range(1 + len(joins)):
                while (await communicator.receive_json_from(10))["type"] != "stream.ready":
                    pass
    await db(lambda: capture.__exit__(None, None, None))()
    cost.statements = len(capture.captured_queries)
    return cost, communicators


@pytest.fixture
def storm(login_cookie, make_user):
    """`await storm(n)` -> the cost of n signed-in users opening into one room at once."""

    async def open_many(count: int, path: str | None = None, joins: int = 0) -> Cost:
        room = await db(services.room_create)(name=f"Storm {count}", created_by=None)
        rooms = [
            await db(services.room_create)(name=f"Storm {count}.{n}", created_by=None)
            for n in range(joins)
        ]
        users = [await db(make_user)() for _ in range(count)]
        cookies = [await db(login_cookie)(user) for user in users]
        cost, communicators = await connect_cost(
            [(path or f"/ws/chat/{room.slug}/", cookie) for cookie in cookies],
            [room.stream_name for room in rooms],
        )
        for communicator in communicators:
            await communicator.disconnect()
        return cost

    return open_many


async def test_many_sockets_opening_at_once_take_no_more_statements_than_a_few(storm):
    one = await storm(1)
    many = await storm(60)

    # Each phase of an opening (the session and user, the stream and the admission,
    # the replay) is one trip for every socket waiting on it, so sixty sockets take
    # a handful of trips, not sixty times one socket's.
    assert many.statements <= 4 * one.statements, (one, many)
    assert many.trips <= 4 * one.trips + 10, (one, many)


async def test_many_multiplexed_sockets_opening_at_once_share_their_trips(storm):
    one = await storm(1, "/ws/")
    many = await storm(60, "/ws/")

    assert many.statements <= 4 * one.statements, (one, many)
    assert many.trips <= 4 * one.trips + 10, (one, many)


async def test_many_multiplexed_sockets_joining_rooms_at_once_share_their_trips(storm):
    one = await storm(1, "/ws/", joins=5)
    many = await storm(30, "/ws/", joins=5)

    # Each socket's joins are resolved, replayed and counted together, and with
    # the other sockets' joins waiting at the same moment.
    assert many.statements <= 4 * one.statements, (one, many)


async def test_each_socket_of_a_storm_is_counted_once(storm):
    await storm(30)

    # Every admission row was a socket's presence row too, and each went on close.
    assert await db(Presence.objects.count)() == 0


async def test_sockets_opening_together_are_held_to_the_limit_exactly(
    settings, login_cookie, make_user
):
    settings.SOCKETS_PER_USER = 3
    room = await db(services.room_create)(name="Limited", created_by=None)
    ann, bob = await db(make_user)(), await db(make_user)()
    cookies = [await db(login_cookie)(ann) for _ in range(5)] + [await db(login_cookie)(bob)]
    communicators = [
        WebsocketCommunicator(
            application,
            f"/ws/chat/{room.slug}/",
            headers=websocket_headers(origin="http://testserver", cookie=cookie),
        )
        for cookie in cookies
    ]

    await asyncio.gather(*(c.connect(timeout=10) for c in communicators))
    firsts = [await c.receive_output(10) for c in communicators]

    # Rows written for all five before any count was read: three of ann's get in, not more.
    closed = [first.get("code") for first in firsts if first["type"] == "websocket.close"]
    assert closed == [CLOSE_TOO_MANY_SOCKETS, CLOSE_TOO_MANY_SOCKETS]
    assert firsts[-1]["type"] == "websocket.send"  # bob's own limit is untouched
    assert await db(Presence.objects.filter(user=ann).count)() == 3
    for communicator in communicators:
        await communicator.disconnect()


async def test_each_socket_opening_together_is_signed_in_by_its_own_session(
    login_cookie, make_user
):
    room = await db(services.room_create)(name="Sessions", created_by=None)
    ann, bob, cat = await db(make_user)(), await db(make_user)(), await db(make_user)()
    cookies = [await db(login_cookie)(user) for user in (ann, bob, cat)]
    # cat's password changes after sign-in: the session's hash no longer matches.
    cat.set_password("another one")
    await db(cat.save)()
    communicators = [
        WebsocketCommunicator(
            application,
            f"/ws/chat/{room.slug}/",
            headers=websocket_headers(origin="http://testserver", cookie=cookie),
        )
        for cookie in [*cookies, None]
    ]

    await asyncio.gather(*(c.connect(timeout=10) for c in communicators))
    firsts = [await c.receive_output(10) for c in communicators]

    # A chat room is for signed-in users: cat and the anonymous socket are told to sign in.
    assert [first.get("code") for first in firsts] == [None, None, 4401, 4401]
    rows = await db(lambda: set(Presence.objects.values_list("user__username", flat=True)))()
    assert rows == {ann.username, bob.username}
    # As channels' get_user does, the session that failed its hash check is flushed.
    cat_session = cookies[2].split("=", 1)[1]
    assert not await db(SessionStore().exists)(cat_session)
    for communicator in communicators:
        await communicator.disconnect()
