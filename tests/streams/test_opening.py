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
from django.db import connections
from django.test.utils import CaptureQueriesContext

from chat import services
from project.asgi import application
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


async def connect_cost(paths_and_cookies: list[tuple[str, str]]) -> tuple[Cost, list]:
    """Open the sockets all at once; the trips and statements it took until each was ready."""
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
            while (await communicator.receive_json_from(10))["type"] != "stream.ready":
                pass
    await db(lambda: capture.__exit__(None, None, None))()
    cost.statements = len(capture.captured_queries)
    return cost, communicators


@pytest.fixture
def storm(login_cookie, make_user):
    """`await storm(n)` -> the cost of n signed-in users opening into one room at once."""

    async def open_many(count: int, path: str | None = None) -> Cost:
        room = await db(services.room_create)(name=f"Storm {count}", created_by=None)
        users = [await db(make_user)() for _ in range(count)]
        cookies = [await db(login_cookie)(user) for user in users]
        cost, communicators = await connect_cost(
            [(path or f"/ws/chat/{room.slug}/", cookie) for cookie in cookies]
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


async def test_each_socket_of_a_storm_is_counted_once(storm):
    await storm(30)

    # Every admission row was a socket's presence row too, and each went on close.
    assert await db(Presence.objects.count)() == 0
