"""Presence at scale: a storm of joins costs each socket O(N) bytes, a heartbeat a few statements.

The hub is driven directly, with members that record what they are sent: the
same hub, rows and channel layer as a server's, without a thousand handshakes.
"""

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from streams import hub as hub_module
from streams.broadcast import channel_layer
from streams.hub import Hub, Member
from streams.models import Presence
from streams.presence import presence_ref
from tests.support.orm import db
from tests.support.sockets import PresenceView

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]


def make_people(count: int, prefix: str) -> list:
    """`count` users, made in one statement (no password: they never sign in)."""
    users = get_user_model()._default_manager
    users.bulk_create(
        [get_user_model()(username=f"{prefix}-{n:04}") for n in range(count)], batch_size=500
    )
    return list(users.filter(username__startswith=f"{prefix}-").order_by("username"))


class Socket:
    """A member's far end: the frames it is sent, and what its presence shows."""

    def __init__(self) -> None:
        self.bytes = 0
        self.view = PresenceView()
        self.changed = asyncio.Event()

    async def deliver(self, seq, outgoing) -> None:
        text = outgoing["text"]
        self.bytes += len(text.encode())
        self.view.apply(json.loads(text))
        self.changed.set()

    async def until(self, predicate, within: float = 30) -> None:
        async with asyncio.timeout(within):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def member_of(user, socket: Socket, stream: str) -> Member:
    return Member(
        socket_id=uuid.uuid4().hex,
        user=user,
        presence=stream,
        names=True,
        deliver=socket.deliver,
        stream=stream,
    )


async def stop(hub: Hub) -> None:
    tasks = [*hub.tasks, *([hub.flushing] if hub.flushing else [])]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def storm(count: int, *, batch: int = 10) -> tuple[int, list[Socket], list[str]]:
    """`count` sockets of as many users join one room, `batch` per presence flush: the
    presence bytes the first socket received, every socket, and the usernames."""
    people = await db(make_people)(count, f"storm{count}")
    hub = Hub(channel_layer())
    stream = f"storm-{count}"
    sockets = [Socket() for _ in people]
    try:
        for start in range(0, count, batch):
            members = [
                member_of(user, socket, stream)
                for user, socket in zip(
                    people[start : start + batch], sockets[start : start + batch], strict=True
                )
            ]
            for member in members:
                await hub.attach(member, [stream])
            await hub.present_join(*members)
            # The next batch joins once the first socket has heard of this one.
            awaited = people[start + len(members) - 1].username
            await sockets[0].until(lambda awaited=awaited: awaited in (sockets[0].view.users or []))
        usernames = [user.username for user in people]
        for socket in sockets:
            await socket.until(lambda socket=socket: socket.view.users == usernames)
    finally:
        await stop(hub)
    return sockets[0].bytes, sockets, usernames


async def test_a_storm_of_joins_costs_each_socket_presence_bytes_linear_in_the_joins():
    small, _, _ = await storm(100)
    large, sockets, usernames = await storm(200)
    # Twice the joins, twice the bytes (each join is told once), not four times.
    assert large / small < 2.5, (small, large)
    assert large / 200 < 200, large  # bytes per join, its card included
    assert all(socket.view.users == usernames for socket in sockets)


async def test_two_tabs_of_one_user_count_once_and_the_user_stays_while_one_is_open(make_user):
    ann, bob = await db(make_user)(username="ann"), await db(make_user)(username="bob")
    hub = Hub(channel_layer())
    tab1, tab2, other = Socket(), Socket(), Socket()
    members = [member_of(ann, tab1, "room"), member_of(ann, tab2, "room")]
    members.append(member_of(bob, other, "room"))
    try:
        for member in members:
            await hub.attach(member, ["room"])
        await hub.present_join(*members)
        for socket in (tab1, tab2, other):
            await socket.until(lambda socket=socket: socket.view.users == ["ann", "bob"])
        assert len(other.view.refs) == 3
        await hub.present_leave(members[1])
        await other.until(lambda: len(other.view.refs) == 2)
        assert other.view.users == tab1.view.users == ["ann", "bob"]
    finally:
        await stop(hub)


async def test_a_sweep_tells_every_socket_of_the_stream_the_rows_it_removed(make_user):
    """A process died: the living one sweeps its rows, and the room's sockets see them leave."""
    ann, bob = await db(make_user)(username="ann"), await db(make_user)(username="bob")
    stale = timezone.now() - timedelta(seconds=settings.PRESENCE_TTL + 1)
    await db(Presence.objects.create)(stream="room", socket_id="dead", user=bob, last_seen=stale)
    hub = Hub(channel_layer())
    socket = Socket()
    member = member_of(ann, socket, "room")
    try:
        await hub.attach(member, ["room"])
        # Its state is read while bob's row is still fresh enough to be counted.
        await db(Presence.objects.filter(socket_id="dead").update)(last_seen=timezone.now())
        await hub.present_join(member)
        await socket.until(lambda: socket.view.users == ["ann", "bob"])
        await db(Presence.objects.filter(socket_id="dead").update)(last_seen=stale)
        await hub._refresh_presence()
        await socket.until(lambda: socket.view.users == ["ann"])
        assert presence_ref("dead") not in socket.view.refs
        assert not await db(Presence.objects.filter(socket_id="dead").exists)()
    finally:
        await stop(hub)


async def test_a_heartbeat_refreshes_and_sweeps_two_hundred_streams_in_two_statements(
    make_user, monkeypatch
):
    # The joins' announcement would be read meanwhile: it waits until the heartbeat is over.
    monkeypatch.setattr(hub_module, "PRESENCE_COALESCE", 3600)
    ann = await db(make_user)(username="ann")
    hub = Hub(channel_layer())
    socket = Socket()
    members = [
        member_of(ann if n % 2 else None, socket, f"room-{n // 5}")
        for n in range(200 * 5)  # 200 streams, 5 sockets each
    ]
    await hub.present_join(*members)
    queries = await db(lambda: CaptureQueriesContext(connections["default"]))()
    await db(queries.__enter__)()
    await hub._refresh_presence()
    await db(queries.__exit__)(None, None, None)
    statements = [query["sql"][:60] for query in queries.captured_queries]
    assert len(statements) <= 2, statements
    fresh = Presence.objects.filter(last_seen__gte=timezone.now() - timedelta(seconds=5))
    assert await db(fresh.count)() == 1000
    await stop(hub)


async def test_a_heartbeat_restores_the_rows_swept_while_the_process_stalled(make_user):
    ann, bob = await db(make_user)(username="ann"), await db(make_user)(username="bob")
    hub = Hub(channel_layer())
    watcher, stalled = Socket(), Socket()
    mine, theirs = member_of(ann, watcher, "room"), member_of(bob, stalled, "room")
    try:
        for member in (mine, theirs):
            await hub.attach(member, ["room"])
        await hub.present_join(mine, theirs)
        await watcher.until(lambda: watcher.view.users == ["ann", "bob"])
        # Another process swept bob's row while this one was stalled.
        await db(Presence.objects.filter(socket_id=theirs.socket_id).delete)()
        await hub._refresh_presence()
        assert await db(Presence.objects.filter(socket_id=theirs.socket_id).exists)()
        assert watcher.view.users == ["ann", "bob"]
    finally:
        await stop(hub)
