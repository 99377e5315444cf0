"""The hub's own machinery: one flight per key, and presence announcements that are never lost."""

import asyncio
import json

import pytest
from channels.layers import InMemoryChannelLayer

from streams import hub as hub_module
from streams.broadcast import channel_layer
from streams.hub import Hub, SingleFlight


async def test_callers_that_arrive_during_a_flight_share_it():
    runs = []
    release = asyncio.Event()

    async def action():
        runs.append(1)
        await release.wait()

    flights = SingleFlight()
    waiting = [asyncio.create_task(flights.run("key", action)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(*waiting)
    await flights.run("key", action)  # done: remembered
    assert runs == [1]


async def test_a_failed_flight_is_tried_again_by_the_next_caller():
    attempts = []

    async def action():
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("layer down")

    flights = SingleFlight()
    with pytest.raises(ConnectionError):
        await flights.run("key", action)
    await flights.run("key", action)
    assert len(attempts) == 2


async def test_a_presence_change_made_while_announcing_is_announced_too(monkeypatch):
    hub = Hub(channel_layer())
    announced: list[str] = []
    second = asyncio.Event()

    async def announce(layer, *, stream):
        announced.append(stream)
        if stream == "first":
            # Someone joins another stream while this announcement is under way.
            hub.announce("second", False)
        else:
            second.set()

    monkeypatch.setattr(hub_module.presence, "presence_announce", announce)
    hub.announce("first", False)
    await asyncio.wait_for(second.wait(), timeout=5)
    assert announced == ["first", "second"]


class CancellationAsErrorLayer(InMemoryChannelLayer):
    """The in-memory layer, but a cancelled receive surfaces as a connection error,
    as it can from channels_redis and redis-py."""

    def __init__(self) -> None:
        super().__init__()
        self.receiving = asyncio.Event()

    async def receive(self, channel):
        self.receiving.set()
        try:
            return await super().receive(channel)
        except asyncio.CancelledError:
            raise ConnectionError("Connection closed by server.") from None


class CancellationSwallowedLayer(CancellationAsErrorLayer):
    """A cancelled receive that returns as if a message had come."""

    async def receive(self, channel):
        try:
            return await super().receive(channel)
        except ConnectionError:
            return {"type": "stream.event", "group": "", "seq": None, "frame": "{}"}


class CancellationIgnoredLayer(CancellationAsErrorLayer):
    """A cancelled receive that goes on waiting until a message comes, as one of
    channels_redis over redis-py 8 sometimes does."""

    async def receive(self, channel):
        self.receiving.set()
        while True:
            try:
                return await InMemoryChannelLayer.receive(self, channel)
            except asyncio.CancelledError:
                continue


@pytest.mark.parametrize(
    "layer_class",
    [CancellationAsErrorLayer, CancellationSwallowedLayer, CancellationIgnoredLayer],
)
async def test_the_hub_stops_when_cancelled_whatever_the_layer_makes_of_that(layer_class):
    layer = layer_class()
    hub = Hub(layer)
    await hub.once.run("start", hub._start)
    await layer.receiving.wait()
    for task in hub.tasks:
        task.cancel()
    done, pending = await asyncio.wait(hub.tasks, timeout=5)
    assert pending == set()
    assert all(task.cancelled() for task in done)


@pytest.mark.stack
async def test_a_hub_stops_each_time_it_is_cancelled_on_the_real_layer():
    """On Redis, a cancel at some points of a receive is swallowed (a few in thirty here)."""
    for attempt in range(30):
        hub = Hub(channel_layer())
        await hub.once.run("start", hub._start)
        for _ in range(attempt % 7):  # the cancel lands a little further into the receive
            await asyncio.sleep(0)
        for task in hub.tasks:
            task.cancel()
        done, pending = await asyncio.wait(hub.tasks, timeout=5)
        if pending:
            await hub._probe()  # so that the test's event loop can close
        assert pending == set(), attempt


async def test_a_broadcast_is_tagged_once_per_stream_name_and_untagged_sockets_get_it_as_sent():
    hub = Hub(channel_layer())
    received: dict[str, list] = {}

    def member(name: str, tag: str | None) -> hub_module.Member:
        async def deliver(seq, outgoing):
            received.setdefault(name, []).append(outgoing)

        return hub_module.Member(
            socket_id=name, user=None, presence="p", names=True, deliver=deliver, tag=tag
        )

    members = {member("a", "chat:lobby"), member("b", "chat:lobby"), member("c", None)}
    text = '{"type":"chat.typing","user":"ann"}'
    await hub._deliver(members, {"seq": None, "frame": text})
    (a,), (b,), (c,) = received["a"], received["b"], received["c"]
    assert a is b  # one text for every socket with that tag
    assert json.loads(a["text"]) == {"stream": "chat:lobby", **json.loads(text)}
    assert c["text"] == text
