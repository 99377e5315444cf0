"""Faults injected into the compose topology, run natively with production settings.

Each test holds a conversation in one room through nginx, with clients that
behave like the page (tests/support/chatter.py: resume from the last seq,
re-send a pending send with its client_id, apply each seq once), injects one
fault for a bounded time, lets the clients settle, and checks the guarantees of
docs/guarantees.md: every send acknowledged, stored once, shown once and in
order by every client, and none left pending.

The faults: Redis paused for 5 s and 15 s; Redis killed and restarted empty;
Redis down when sockets open (pages too, in Chromium); PostgreSQL restarted; a
replica stopped with SIGTERM or killed with SIGKILL; a reader that never reads;
and a short soak of connect/send/disconnect cycles after which memory, database
connections and Redis keys are back within bounds.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from playwright.sync_api import Page, expect
from websockets.asyncio.client import connect

from streams.hub import CLOSE_UNAVAILABLE
from tests.support.browser import ROWS, rows, wait_live
from tests.support.chatter import ChatClient, LoopThread, insecure_tls, login_cookie
from tests.support.topology import NativeTopology

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-123"
PEOPLE = ("alice", "bob", "carol")
ROOM = "random"
# Bounds on how long clients take to settle once a fault is over (the worst
# case is a 15 s Redis stall, after which every backlog drains).
SETTLE_WITHIN = 90


@pytest.fixture(scope="module")
def topology() -> Iterator[NativeTopology]:
    """The compose stack with the demo data; the send limit lifted, as the benchmark does,
    so that the clients' many sends are never refused for their pace."""
    stack = NativeTopology(replicas=2, extra_env={"CHAT_SEND_LIMIT": "100000"}).start()
    stack.manage("load_demo_data")
    yield stack
    stack.stop()


@pytest.fixture(autouse=True)
def _kept_together(browser_name: str) -> None:
    """Every test here takes pytest-playwright's browser parameter, as the Chromium one does:
    pytest orders tests by such parameters, and would otherwise split the module in two
    and start its topology twice."""


@pytest.fixture(scope="module")
def cookies(topology: NativeTopology) -> dict[str, str]:
    return {name: login_cookie(topology.url, name, DEMO_PASSWORD) for name in PEOPLE}


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


@pytest.fixture(autouse=True)
def _services_restored(topology: NativeTopology) -> Iterator[None]:
    """Whatever a test did to Redis, PostgreSQL or a replica is undone before the next."""
    yield
    if not topology.postgres.running:
        topology.postgres.start_again()
    redis = topology.redis
    if redis.running:
        redis.resume()  # a no-op unless it was paused
    else:
        redis.restart()
    for index, replica in enumerate(topology.ws):
        if not replica.running:
            topology.start_replica(index)


# The database: what was stored ----------------------------------------------------------


def query(topology: NativeTopology, sql: str, *args) -> list[tuple]:
    postgres = topology.postgres
    connection = psycopg2.connect(
        host=postgres.host, port=postgres.port, user=postgres.user, dbname="app"
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()
    finally:
        connection.close()


def room_head(topology: NativeTopology, slug: str = ROOM) -> int:
    return query(topology, "SELECT last_seq FROM chat_room WHERE slug = %s", slug)[0][0]


def stored_after(topology: NativeTopology, seq: int, slug: str = ROOM) -> list[tuple]:
    """(id, body, client_id) of the room's messages after `seq`, in seq order."""
    return query(
        topology,
        "SELECT m.id, m.body, m.client_id FROM chat_message m JOIN chat_room r ON r.id = m.room_id"
        " WHERE r.slug = %s AND m.seq > %s ORDER BY m.seq",
        slug,
        seq,
    )


# A conversation -------------------------------------------------------------------------


class Conversation:
    """The demo people in one room, each in a tab that behaves like the page."""

    def __init__(self, topology: NativeTopology, loop: LoopThread, cookies: dict[str, str]):
        self.topology = topology
        self.loop = loop
        self.cookies = cookies
        self.start = room_head(topology)
        self.clients: list[ChatClient] = []
        self.sent: dict[str, str] = {}

    def join(self, username: str, *, wait: bool = True, applied: int | None = None) -> ChatClient:
        client = ChatClient(
            base_url=self.topology.url,
            slug=ROOM,
            username=username,
            cookie=self.cookies[username],
            applied=self.start if applied is None else applied,
        )
        self.clients.append(client)
        self.loop.call(self._start(client, wait))
        return client

    async def _start(self, client: ChatClient, wait: bool) -> None:
        client.start()
        if wait:
            await client.until(lambda: client.live, 30, "live")

    def everyone(self, *, wait: bool = True) -> Conversation:
        for name in PEOPLE:
            self.join(name, wait=wait)
        return self

    def say_each(self, label: str) -> None:
        """Each client sends one message (now, or as soon as it is live again)."""
        self.loop.call(self._say_each(label))

    async def _say_each(self, label: str) -> None:
        for client in self.clients:
            body = f"{label} from {client.username} {uuid.uuid4().hex[:6]}"
            self.sent[client.say(body)] = body

    def settle(self, within: float = SETTLE_WITHIN) -> int:
        """Wait until no send is pending and every client has applied the stored head."""
        self.loop.call(self._until_acknowledged(within), within + 10)
        head = room_head(self.topology)
        self.loop.call(self._until_applied(head, within), within + 10)
        return head

    async def _until_acknowledged(self, within: float) -> None:
        for client in self.clients:
            await client.until(lambda c=client: not c.pending, within, "acknowledged")

    async def _until_applied(self, head: int, within: float) -> None:
        for client in self.clients:
            await client.until(lambda c=client: c.applied >= head, within, f"at seq {head}")

    def check(self) -> None:
        """Acknowledged = stored once = shown by every client, in order, once; nothing pending."""
        head = self.settle()
        stored = stored_after(self.topology, self.start)
        assert sorted(client_id for _id, _body, client_id in stored) == sorted(self.sent)
        assert {body for _id, body, _cid in stored} == set(self.sent.values())
        acknowledged = set().union(*(client.acked for client in self.clients))
        assert acknowledged == set(self.sent)
        for client in self.clients:
            assert not client.pending and not client.refused, client
            assert not client.doubled, f"{client.username} showed {client.doubled} twice"
            assert list(client.shown.items()) == [(id_, body) for id_, body, _cid in stored]
            seqs = [seq for seq in client.applied_seqs if seq > self.start]
            assert seqs == list(range(self.start + 1, head + 1)), client.username

    def close(self) -> None:
        self.loop.call(self._stop())

    async def _stop(self) -> None:
        await asyncio.gather(*(client.stop() for client in self.clients))


@pytest.fixture
def talk(topology, loop, cookies) -> Iterator[Conversation]:
    conversation = Conversation(topology, loop, cookies)
    yield conversation
    conversation.close()


def closed_with(talk: Conversation, code: int) -> bool:
    return any(code in client.closes for client in talk.clients)


# Redis ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [5, 15])
def test_a_conversation_survives_redis_paused(topology, talk, seconds):
    talk.everyone().say_each("before")
    talk.settle()
    topology.redis.pause()
    try:
        talk.say_each("during")
        time.sleep(seconds)  # the fault's duration
    finally:
        topology.redis.resume()
    talk.say_each("after")
    talk.check()


def test_a_conversation_survives_redis_killed_and_restarted_empty(topology, talk):
    talk.everyone().say_each("before")
    talk.settle()
    topology.redis.kill()
    talk.say_each("during")
    # The open sockets are told that live delivery stopped.
    talk.loop.call(
        talk.clients[0].until(lambda: closed_with(talk, CLOSE_UNAVAILABLE), 30, "told 4503"), 40
    )
    time.sleep(2)  # the outage's duration
    topology.redis.restart()
    talk.say_each("after")
    talk.check()


def open_page(new_context, topology: NativeTopology, username: str) -> Page:
    page = new_context(ignore_https_errors=True).new_page()
    page.goto(f"{topology.url}/accounts/login/?next=/chat/{ROOM}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{topology.url}/chat/{ROOM}/")
    return page


def test_sockets_opened_while_redis_is_down_reconnect_and_miss_nothing(topology, talk, new_context):
    """In Chromium too: a page whose socket is told 4503 says so and reconnects with backoff."""
    page = wait_live(open_page(new_context, topology, "alice"))
    shown_before = len(rows(page))
    topology.redis.kill()
    # The page's socket is closed (4503), and each reconnect meanwhile is too.
    expect(page.locator("#room")).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("#connection-state")).to_have_text("Reconnecting…")
    talk.everyone(wait=False)
    talk.say_each("while down")
    talk.loop.call(
        talk.clients[0].until(lambda: closed_with(talk, CLOSE_UNAVAILABLE), 30, "told 4503"), 40
    )
    assert not any(client.live for client in talk.clients)
    topology.redis.restart()
    # The page's next try comes at its backoff's pace (up to some seconds by now).
    expect(page.locator("#room")).to_have_attribute("data-state", "live", timeout=30_000)
    talk.say_each("once back")
    talk.check()
    stored = stored_after(topology, talk.start)
    expect(page.locator(ROWS)).to_have_count(shown_before + len(stored))
    assert [body for _id, _author, body in rows(page)[shown_before:]] == [
        body for _id, body, _cid in stored
    ]


# PostgreSQL -----------------------------------------------------------------------------


def test_a_conversation_survives_a_postgresql_restart(topology, talk):
    talk.everyone().say_each("before")
    talk.settle()
    topology.postgres.terminate()
    try:
        talk.say_each("while down")
        # Each client's sends (and pings) are answered server_error meanwhile.
        for client in talk.clients:
            talk.loop.call(client.until(lambda c=client: "server_error" in c.errors, 30, "told"))
    finally:
        topology.postgres.start_again()
    talk.say_each("after")
    talk.check()


# Replicas -------------------------------------------------------------------------------


# region: losing-a-replica
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_conversation_survives_losing_a_replica(topology, talk, how):
    before = topology.replica_connections()
    talk.everyone().say_each("before")
    talk.settle()
    after = topology.replica_connections()
    opened = [b - a for a, b in zip(before, after, strict=True)]
    busiest = opened.index(max(opened))
    if how == "SIGTERM":
        assert topology.stop_replica(busiest) == 0
    else:
        topology.kill_replica(busiest)
    talk.say_each("during")
    talk.check()
    # endregion
    assert any(client.closes for client in talk.clients), "no client was on the lost replica"
    topology.start_replica(busiest)
    talk.say_each("with both back")
    talk.check()


# Slow readers ---------------------------------------------------------------------------


# Some 2 MB of frames for the reader that does not read, in bursts each sender's
# flood limit lets through.
ROUNDS = 40


def test_a_reader_that_never_reads_does_not_slow_the_room_and_recovers_by_resume(
    topology, talk, loop, cookies
):
    stalled = loop.call(open_without_reading(topology, cookies["bob"]))
    ready_seq = stalled["ready"]
    talk.everyone()
    # Enough to fill every buffer between the server and the reader that does not read.
    for round_ in range(ROUNDS):
        talk.say_each(f"round {round_} " + "x" * 3900)
    talk.check()
    # Nothing was read on the stalled socket meanwhile; it now resumes from where it was.
    loop.call(stalled["abort"]())
    talk.join("bob", applied=ready_seq)
    talk.check()


async def open_without_reading(topology: NativeTopology, cookie: str) -> dict:
    """A socket past its `stream.ready` that reads nothing more: the client's buffer is one
    frame, so everything else waits in the network and the server."""
    ws = await connect(
        topology.url.replace("https://", "wss://") + f"/ws/chat/{ROOM}/",
        origin=topology.url,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
        ssl=insecure_tls(),
        max_queue=1,
        ping_interval=None,
    )
    frame = json.loads(await ws.recv())
    while frame["type"] != "stream.ready":
        frame = json.loads(await ws.recv())

    async def abort() -> None:
        ws.transport.abort()

    return {"ready": frame["seq"], "abort": abort}


# Soak -----------------------------------------------------------------------------------

CYCLES = 240
AT_ONCE = 4
RSS_GROWTH_BOUND = 40 * 1024  # KiB per replica
CONNECTIONS_BOUND = 2
REDIS_KEYS_BOUND = 5


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def resources(topology: NativeTopology) -> dict:
    connections = query(
        topology,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' AND pid <> pg_backend_pid()",
    )[0][0]
    return {
        "rss": [rss_kib(pid) for pid in topology.replica_pids()],
        "connections": connections,
        "redis_keys": int(topology.redis.command("DBSIZE").lstrip(b":")),
    }


async def cycles(topology: NativeTopology, cookies: dict[str, str], count: int) -> list[str]:
    """`count` connect/send/acknowledged/disconnect cycles, AT_ONCE at a time; the client_ids."""
    url = topology.url.replace("https://", "wss://") + f"/ws/chat/{ROOM}/"
    gate = asyncio.Semaphore(AT_ONCE)
    names = list(cookies)

    async def cycle(n: int) -> str:
        name = names[n % len(names)]
        client_id = uuid.uuid4().hex
        async with (
            gate,
            connect(
                url,
                origin=topology.url,  # type: ignore[arg-type]
                additional_headers={"Cookie": cookies[name]},
                ssl=insecure_tls(),
            ) as ws,
        ):
            async with asyncio.timeout(30):
                while json.loads(await ws.recv())["type"] != "stream.ready":
                    pass
                frame = {"type": "chat.send", "body": f"cycle {n}", "client_id": client_id}
                await ws.send(json.dumps(frame))
                while not acknowledges(json.loads(await ws.recv()), client_id):
                    pass
                return client_id

    return list(await asyncio.gather(*(cycle(n) for n in range(count))))


def acknowledges(frame: dict, client_id: str) -> bool:
    return frame["type"] == "chat.message" and frame["message"]["client_id"] == client_id


def test_a_short_soak_returns_memory_connections_and_redis_keys_to_baseline(
    topology, loop, cookies
):
    loop.call(cycles(topology, cookies, 20))  # warm up: imports, pools, caches
    baseline = resources(topology)
    start = room_head(topology)
    client_ids = loop.call(cycles(topology, cookies, CYCLES), 300)
    stored = stored_after(topology, start)
    assert sorted(cid for _id, _body, cid in stored) == sorted(client_ids)

    # Closed sockets' leftovers go at their own pace: wait for them, within a bound.
    deadline = time.monotonic() + 30
    while (now := resources(topology))["redis_keys"] > baseline["redis_keys"] + REDIS_KEYS_BOUND:
        assert time.monotonic() < deadline, (baseline, now)
        time.sleep(0.5)
    assert now["connections"] <= baseline["connections"] + CONNECTIONS_BOUND, (baseline, now)
    for before, after in zip(baseline["rss"], now["rss"], strict=True):
        assert after - before < RSS_GROWTH_BOUND, (baseline, now)
