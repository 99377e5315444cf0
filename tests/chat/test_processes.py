"""Two daphne processes on one Redis: one conversation, one presence list.

Each process runs with a short presence heartbeat so that the bound on how
long a dead process's users linger (PRESENCE_TTL + PRESENCE_HEARTBEAT) is
seconds, not the production minute.
"""

import asyncio
import json
import os
import signal

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chat.services import room_create
from tests.support.sockets import next_frame, next_presence

HEARTBEAT, TTL = 1, 4
PRESENCE_BOUND = TTL + HEARTBEAT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]


@pytest.fixture
def people(make_user, login_cookie):
    ann, bob = make_user(username="ann"), make_user(username="bob")
    room = room_create(name="Across processes", created_by=ann)
    return room, login_cookie(ann), login_cookie(bob)


@pytest.mark.timeout(90)
async def test_two_processes_share_the_room_and_presence(daphne_factory, fresh_redis, people):
    room, ann_cookie, bob_cookie = people
    env = {
        "REDIS_URL": fresh_redis.url,
        "PRESENCE_HEARTBEAT": str(HEARTBEAT),
        "PRESENCE_TTL": str(TTL),
    }
    first, second = daphne_factory(**env), daphne_factory(**env)
    path = f"/ws/chat/{room.slug}/"

    def socket(server, cookie):
        return connect(
            server.ws_url + path, origin=server.origin, additional_headers={"Cookie": cookie}
        )

    async with socket(first, ann_cookie) as ann, socket(second, bob_cookie) as bob:
        await next_frame(ann, "stream.ready")
        await next_frame(bob, "stream.ready")
        await next_presence(ann, ["ann", "bob"])
        await next_presence(bob, ["ann", "bob"])

        await ann.send(json.dumps({"type": "chat.send", "body": "from one", "client_id": "a1"}))
        assert (await next_frame(bob, "chat.message"))["message"]["body"] == "from one"
        await bob.send(json.dumps({"type": "chat.send", "body": "from two", "client_id": "b1"}))
        heard = await next_frame(ann, "chat.message", seq=2)
        assert heard["message"]["body"] == "from two"

        # The second process dies without running any disconnect handler.
        os.kill(second.pid, signal.SIGKILL)
        second.process.wait()
        # Its rows are swept by the living process, and ann is told they left.
        await next_presence(ann, ["ann"], within=PRESENCE_BOUND + 2)


@pytest.mark.timeout(90)
async def test_a_users_sockets_are_counted_across_processes_and_freed_when_one_is_killed(
    daphne_factory, fresh_redis, people
):
    room, ann_cookie, bob_cookie = people
    env = {
        "REDIS_URL": fresh_redis.url,
        "PRESENCE_HEARTBEAT": str(HEARTBEAT),
        "PRESENCE_TTL": str(TTL),
        "SOCKETS_PER_USER": "2",
    }
    first, second = daphne_factory(**env), daphne_factory(**env)
    path = f"/ws/chat/{room.slug}/"

    def socket(server, cookie):
        return connect(
            server.ws_url + path, origin=server.origin, additional_headers={"Cookie": cookie}
        )

    async def refused(server, cookie) -> int | None:
        async with socket(server, cookie) as extra:
            try:
                await next_frame(extra, "stream.ready")
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
            return None

    async with socket(first, bob_cookie) as bob:
        await next_frame(bob, "stream.ready")
        async with socket(second, ann_cookie) as ann1, socket(second, ann_cookie) as ann2:
            await next_frame(ann1, "stream.ready")
            await next_frame(ann2, "stream.ready")
            await next_presence(bob, ["ann", "bob"])
            # ann's third socket, on the other process, is one too many.
            assert await refused(first, ann_cookie) == 4429

            os.kill(second.pid, signal.SIGKILL)
            second.process.wait()
            # Once the living process has swept her rows, she may open sockets again.
            await next_presence(bob, ["bob"], within=PRESENCE_BOUND + 2)
            assert await refused(first, ann_cookie) is None


# region: sigterm-stops-daphne-cleanly
@pytest.mark.timeout(60)
async def test_sigterm_with_sockets_open_stops_daphne_cleanly(daphne_factory, people):
    room, ann_cookie, _ = people
    server = daphne_factory()
    url = f"{server.ws_url}/ws/chat/{room.slug}/"
    async with connect(url, origin=server.origin, additional_headers={"Cookie": ann_cookie}) as ann:
        await next_presence(ann, ["ann"])
        os.kill(server.pid, signal.SIGTERM)
        # The harness SIGKILLs a daphne still running after its stop timeout; a
        # graceful stop must end on its own, not hang on its consumers' cleanup,
        # and exit 0 (not crash in the interpreter's teardown: project/shutdown.py).
        returncode = await asyncio.to_thread(server.process.wait, 20)
    assert returncode == 0, server.log()
    # endregion


SERVER_NAME = "kept-connections-daphne"


def _server_backends() -> set[int]:
    """The PostgreSQL backends the daphne under test holds (by its application_name)."""
    query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
    try:
        with connection.cursor() as cursor:
            cursor.execute(query, [SERVER_NAME])
            return {pid for (pid,) in cursor.fetchall()}
    finally:
        connection.close()  # this helper's thread holds no session past its call


def _terminate(pids: set[int]) -> None:
    try:
        with connection.cursor() as cursor:
            for pid in pids:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        connection.close()


@pytest.mark.postgres
@pytest.mark.timeout(60)
async def test_a_kept_database_connection_is_reused_and_replaced_when_it_drops(
    daphne_factory, stack_env, people
):
    """DATABASE_CONN_MAX_AGE (as the compose stack sets it): no connection per message,
    and a connection the server dropped is noticed and replaced, not reported as an error."""
    room, ann_cookie, _ = people
    server = daphne_factory(
        DATABASE_CONN_MAX_AGE="60",
        DATABASE_URL=f"{stack_env['DATABASE_URL']}?application_name={SERVER_NAME}",
    )
    url = f"{server.ws_url}/ws/chat/{room.slug}/"
    async with connect(url, origin=server.origin, additional_headers={"Cookie": ann_cookie}) as ann:

        async def say(n: int) -> None:
            await ann.send(json.dumps({"type": "chat.send", "body": f"m{n}", "client_id": f"c{n}"}))
            frame = await next_frame(ann, "chat.message", seq=n)
            assert frame["message"]["body"] == f"m{n}"

        await next_frame(ann, "stream.ready")
        await say(1)
        kept = await sync_to_async(_server_backends)()
        assert kept, "the server keeps its connection between messages"
        for n in range(2, 7):
            await say(n)
        assert await sync_to_async(_server_backends)() == kept

        await sync_to_async(_terminate)(kept)
        await say(7)
        assert not (await sync_to_async(_server_backends)()) & kept

    # The test database is dropped at the end of the run: let the server's sessions end first.
    await asyncio.to_thread(server.stop)
    async with asyncio.timeout(10):
        while await sync_to_async(_server_backends)():  # noqa: ASYNC110 - polling PostgreSQL
            await asyncio.sleep(0.1)
