"""What presence costs, printed: bytes per socket in a storm of joins, statements per heartbeat.

Not collected with the suite (a measurement asserts nothing); run it on its own:

    .venv/bin/pytest tests/streams/presence_cost.py -s -q
"""

import asyncio
import json
import uuid

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from streams import hub as hub_module
from streams.broadcast import channel_layer
from streams.hub import Hub, Member
from tests.streams.test_presence import make_people
from tests.support.orm import db
from tests.support.sockets import PresenceView

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]


class Counter:
    def __init__(self) -> None:
        self.bytes = 0
        self.frames = 0
        self.view = PresenceView()
        self.users: list[str] = []
        self.changed = asyncio.Event()

    async def deliver(self, seq, outgoing) -> None:
        frame = json.loads(outgoing["text"])
        self.bytes += len(outgoing["text"].encode())
        self.frames += 1
        # A whole list each time ("presence"), or a state and diffs.
        if "users" in frame:
            self.users = frame["users"]
        else:
            self.view.apply(frame)
            self.users = self.view.users or []
        self.changed.set()


async def storm(count: int, batch: int) -> Counter:
    people = await db(make_people)(count, f"cost{count}")
    hub = Hub(channel_layer())
    first = Counter()
    for start in range(0, count, batch):
        members = [
            Member(
                socket_id=uuid.uuid4().hex,
                user=user,
                presence=f"storm-{count}",
                names=True,
                deliver=first.deliver if start == n == 0 else Counter().deliver,
                stream=f"storm-{count}",
            )
            for n, user in enumerate(people[start : start + batch])
        ]
        for member in members:
            await hub.attach(member, [f"storm-{count}"])
        await hub.present_join(*members)
        while people[start + len(members) - 1].username not in first.users:
            first.changed.clear()
            await first.changed.wait()
    for task in hub.tasks:
        task.cancel()
    return first


async def test_report(monkeypatch):
    for count in (100, 200, 400):
        first = await storm(count, batch=10)
        print(  # noqa: T201 - the measurement is the output
            f"storm of {count} joins, 10 per flush: the first socket received"
            f" {first.bytes:,} presence bytes in {first.frames} frames"
        )
    monkeypatch.setattr(hub_module, "PRESENCE_COALESCE", 3600)
    people = await db(make_people)(5, "beat")
    hub = Hub(channel_layer())
    members = [
        Member(
            socket_id=uuid.uuid4().hex,
            user=people[n % 5],
            presence=f"room-{n // 5}",
            names=True,
            deliver=Counter().deliver,
        )
        for n in range(1000)
    ]
    await hub.present_join(*members)
    queries = await db(lambda: CaptureQueriesContext(connections["default"]))()
    await db(queries.__enter__)()
    await hub._refresh_presence()
    await db(queries.__exit__)(None, None, None)
    statements = len(queries.captured_queries)
    print(f"heartbeat of 200 streams x 5 sockets: {statements} statements")  # noqa: T201
