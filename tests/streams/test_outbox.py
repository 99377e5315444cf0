"""A socket's database work posts its broadcasts to the event loop, which sends them in
commit order: the one database thread never waits on the channel layer."""

import asyncio

import pytest

from chat import services
from streams import broadcast as broadcast_module
from streams.broadcast import outbox_use
from tests.support.orm import db

pytestmark = [pytest.mark.django_db(transaction=True)]


class Recorder:
    """A layer that notes each group_send, the thread it ran on, and fails when told."""

    def __init__(self) -> None:
        self.sent: list[int | None] = []
        self.failing: set[int] = set()
        self.done = asyncio.Event()
        self.wanted = 0
        # Set: each send waits for it.
        self.hold: asyncio.Event | None = None

    def expect(self, count: int) -> None:
        """Forget what was sent so far; `done` once `count` more are."""
        self.sent.clear()
        self.done.clear()
        self.wanted = count

    async def group_send(self, group, message):
        if self.hold is not None:
            await self.hold.wait()
        self.sent.append(message.get("seq"))
        if len(self.sent) >= self.wanted:
            self.done.set()
        if message.get("seq") in self.failing:
            raise ConnectionError("layer down")


@pytest.fixture
def layer(monkeypatch, settings):
    settings.CHAT_SEND_LIMIT = 100
    recorder = Recorder()
    monkeypatch.setattr(broadcast_module, "channel_layer", lambda: recorder)
    return recorder


async def send_all(room, author, count: int) -> None:
    for n in range(count):
        await db(services.message_send)(room=room, author=author, body=f"m{n}", client_id=f"c{n}")


async def test_a_socket_s_database_work_returns_while_the_layer_is_still_sending(make_user, layer):
    ann = await db(make_user)(username="ann")
    room = await db(services.room_create)(name="Lobby", created_by=ann)
    layer.expect(1)
    layer.hold = asyncio.Event()
    outbox_use()
    try:
        # Were the thread to wait for the layer, it would wait for ever here.
        async with asyncio.timeout(10):
            message, _ = await db(services.message_send)(
                room=room, author=ann, body="hi", client_id="c"
            )
        assert layer.sent == []
    finally:
        layer.hold.set()
    async with asyncio.timeout(10):
        await layer.done.wait()
    assert layer.sent == [message.seq]


async def test_the_sockets_sends_are_broadcast_in_commit_order(make_user, layer):
    ann = await db(make_user)(username="ann")
    room = await db(services.room_create)(name="Lobby", created_by=ann)
    layer.expect(30)

    async def socket(offset: int) -> None:
        outbox_use()  # as a consumer does when its socket opens
        for n in range(10):
            await db(services.message_send)(
                room=room, author=ann, body="hi", client_id=f"s{offset}-{n}"
            )

    await asyncio.gather(*(socket(offset) for offset in range(3)))
    async with asyncio.timeout(10):
        await layer.done.wait()
    seqs = layer.sent
    assert seqs == sorted(seqs) == list(range(seqs[0], seqs[0] + 30))


async def test_one_envelope_the_layer_refuses_costs_only_that_one(make_user, layer, caplog):
    ann = await db(make_user)(username="ann")
    room = await db(services.room_create)(name="Lobby", created_by=ann)
    head = room.last_seq
    layer.failing = {head + 2}
    layer.expect(3)
    outbox_use()
    await send_all(room, ann, 3)
    async with asyncio.timeout(10):
        await layer.done.wait()
    assert layer.sent == [head + 1, head + 2, head + 3]
    assert "sending to" in caplog.text


async def test_work_with_no_socket_behind_it_still_sends_before_it_returns(make_user, layer):
    ann = await db(make_user)(username="ann")
    room = await db(services.room_create)(name="Lobby", created_by=ann)
    layer.expect(1)
    # No outbox_use(): a view's or a command's work.
    message, _ = await db(services.message_send)(room=room, author=ann, body="hi", client_id="c")
    assert layer.sent == [message.seq]
