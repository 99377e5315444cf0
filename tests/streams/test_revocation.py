"""Revocation: a socket closes when its session ends or its user's rights change.

Each test opens sockets on the real ASGI application with a session made by
Django's test client, changes the account the way Django's own code does
(logout, set_password, the admin's group and permission forms), and waits for
the close frame. Marked `stack`: on PostgreSQL + Redis, the revocation crosses
the channel layer as it does between processes.
"""

import asyncio
import json
from datetime import timedelta

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chat.models import Message
from chat.services import room_create
from liveblog import services as liveblog_services
from liveblog.models import EDITORS_GROUP, Post
from project.asgi import application
from streams.revocation import sessions_ended
from tests.support.harness import websocket_headers
from tests.support.orm import db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

SESSION_ENDED, RIGHTS_CHANGED = 4401, 4403


class Browser:
    """One signed-in browser: a Django test client and the sockets it opens with its cookie."""

    def __init__(self, user) -> None:
        self.client = Client()
        self.client.force_login(user)
        self.cookie = f"{settings.SESSION_COOKIE_NAME}={self.session_key}"

    @property
    def session_key(self) -> str:
        return self.client.cookies[settings.SESSION_COOKIE_NAME].value

    async def open(self, path: str) -> WebsocketCommunicator:
        headers = websocket_headers(origin="http://testserver", cookie=self.cookie)
        socket = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await socket.connect(timeout=5)
        assert connected
        await frame_of(socket, "stream.ready")
        return socket


async def frame_of(socket: WebsocketCommunicator, frame_type: str) -> dict:
    """The next frame of `frame_type`, skipping presence; fails if the socket closes first."""
    while True:
        message = await socket.receive_output(5)
        assert message["type"] == "websocket.send", message
        frame = json.loads(message["text"])
        if frame["type"] == frame_type:
            return frame
        assert frame["type"] in {"presence", "presence.state", "presence.diff"}, frame


async def close_code(socket: WebsocketCommunicator) -> int:
    """The code the server closes `socket` with, skipping the frames before it."""
    while True:
        message = await socket.receive_output(5)
        if message["type"] == "websocket.close":
            return message.get("code", 1000)


async def still_open(socket: WebsocketCommunicator) -> None:
    """A ping is answered: the socket was not closed before it."""
    await socket.send_to(text_data=json.dumps({"type": "ping"}))
    await frame_of(socket, "pong")


@pytest.fixture
def room(make_user):
    return room_create(name="Revocation", created_by=make_user())


@pytest.fixture
def liveblog(editor):
    return liveblog_services.liveblog_create(title="Revocation day", by=editor)


async def test_logging_out_closes_that_sessions_sockets_in_every_tab_and_no_others(
    make_user, room, liveblog
):
    ann = await db(make_user)(username="ann")
    laptop, phone = await db(Browser)(ann), await db(Browser)(ann)
    chat_tab = await laptop.open(f"/ws/chat/{room.slug}/")
    liveblog_tab = await laptop.open(f"/ws/liveblog/{liveblog.slug}/")
    on_phone = await phone.open(f"/ws/chat/{room.slug}/")

    response = await db(laptop.client.post)("/accounts/logout/")
    assert response.status_code == 302

    assert await close_code(chat_tab) == SESSION_ENDED
    assert await close_code(liveblog_tab) == SESSION_ENDED
    await still_open(on_phone)
    await on_phone.disconnect()


async def test_a_socket_closed_by_logout_acts_on_no_frame_that_was_on_its_way(make_user, room):
    ann = await db(make_user)(username="ann")
    laptop = await db(Browser)(ann)
    socket = await laptop.open(f"/ws/chat/{room.slug}/")
    await db(laptop.client.post)("/accounts/logout/")
    assert await close_code(socket) == SESSION_ENDED

    # A frame the browser sent before it saw the close still reaches the consumer.
    await socket.send_to(
        text_data=json.dumps({"type": "chat.send", "body": "after logout", "client_id": "late"})
    )
    # The consumer handles its frames in order: once it has ended on the disconnect
    # that follows, it has dealt with the send, and stored nothing.
    await socket.disconnect()
    assert socket.output_queue.empty()
    assert not await db(Message.objects.filter(client_id="late").exists)()


async def test_a_new_socket_without_a_session_is_closed_with_session_ended(room):
    socket = WebsocketCommunicator(
        application, f"/ws/chat/{room.slug}/", headers=websocket_headers(origin="http://testserver")
    )
    connected, _ = await socket.connect(timeout=5)
    assert connected
    assert await close_code(socket) == SESSION_ENDED


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda user: setattr(user, "is_active", False), id="deactivated"),
        pytest.param(lambda user: user.set_password("a new password 9"), id="password changed"),
    ],
)
async def test_deactivation_and_a_new_password_close_every_session(make_user, room, change):
    ann = await db(make_user)(username="ann")
    laptop, phone = await db(Browser)(ann), await db(Browser)(ann)
    sockets = [await browser.open(f"/ws/chat/{room.slug}/") for browser in (laptop, phone)]

    def apply() -> None:
        change(ann)
        ann.save()

    await db(apply)()
    for socket in sockets:
        assert await close_code(socket) == SESSION_ENDED


async def test_a_password_changed_on_its_page_closes_the_sockets_of_the_other_session(
    make_user, room, password
):
    ann = await db(make_user)(username="ann")
    laptop, phone = await db(Browser)(ann), await db(Browser)(ann)
    socket = await phone.open(f"/ws/chat/{room.slug}/")
    new = "a-new-long-Pass-phrase-31"
    data = {"old_password": password, "new_password1": new, "new_password2": new}

    response = await db(laptop.client.post)("/accounts/password/", data)

    assert response.status_code == 302
    assert await close_code(socket) == SESSION_ENDED


async def test_signing_in_again_saves_last_login_and_closes_nothing(make_user, room):
    ann = await db(make_user)(username="ann")
    laptop = await db(Browser)(ann)
    socket = await laptop.open(f"/ws/chat/{room.slug}/")
    await db(Browser)(ann)  # another sign-in: last_login is saved
    await still_open(socket)
    await socket.disconnect()


def _leave_editors(user) -> None:
    user.groups.remove(Group.objects.get(name=EDITORS_GROUP))


def _editors_drop(user) -> None:
    Group.objects.get(name=EDITORS_GROUP).user_set.remove(user)


def _editors_cleared(user) -> None:
    Group.objects.get(name=EDITORS_GROUP).user_set.clear()


@pytest.mark.parametrize(
    "remove",
    [
        pytest.param(_leave_editors, id="user.groups.remove"),
        pytest.param(_editors_drop, id="group.user_set.remove"),
        pytest.param(_editors_cleared, id="group.user_set.clear"),
    ],
)
async def test_an_editor_removed_from_the_editors_gets_no_draft_after_her_socket_closes(
    make_editor, make_user, liveblog, remove
):
    # Olga edits as a superuser, so that no change to the group touches her.
    ed = await db(make_editor)(username="edna")
    olga = await db(make_user)(username="olga", is_superuser=True)
    edna_socket = await (await db(Browser)(ed)).open(f"/ws/liveblog/{liveblog.slug}/")
    olga_socket = await (await db(Browser)(olga)).open(f"/ws/liveblog/{liveblog.slug}/")

    await db(remove)(ed)
    assert await close_code(edna_socket) == RIGHTS_CHANGED
    # A draft written now reaches the editor who still is one, and nothing reaches
    # Edna's closing socket: the hub hands a frame to all its sockets at once.
    await db(liveblog_services.post_create)(
        liveblog=liveblog, by=olga, body="draft", state=Post.State.DRAFT
    )
    assert (await frame_of(olga_socket, "liveblog.post_created"))["post"]["body"] == "draft"
    assert edna_socket.output_queue.empty()
    await olga_socket.disconnect()


async def test_a_permission_taken_from_a_group_closes_its_members_sockets(make_user, room):
    ann, bob = await db(make_user)(username="ann"), await db(make_user)(username="bob")

    def staff_group() -> tuple[Group, Permission]:
        group = Group.objects.create(name="moderators")
        group.user_set.add(ann)
        permission = Permission.objects.get(codename="delete_message")
        group.permissions.add(permission)
        return group, permission

    group, permission = await db(staff_group)()
    ann_socket = await (await db(Browser)(ann)).open(f"/ws/chat/{room.slug}/")
    bob_socket = await (await db(Browser)(bob)).open(f"/ws/chat/{room.slug}/")

    await db(permission.group_set.remove)(group)
    assert await close_code(ann_socket) == RIGHTS_CHANGED
    await still_open(bob_socket)
    await bob_socket.disconnect()


async def test_a_socket_whose_session_expired_is_closed_at_the_next_check(
    settings, make_user, room
):
    settings.SOCKET_SESSION_RECHECK = 0.2
    ann, bob = await db(make_user)(username="ann"), await db(make_user)(username="bob")
    expiring, lasting = await db(Browser)(ann), await db(Browser)(bob)
    ann_socket = await expiring.open(f"/ws/chat/{room.slug}/")
    bob_socket = await lasting.open(f"/ws/chat/{room.slug}/")

    past = timezone.now() - timedelta(seconds=1)
    await db(Session.objects.filter(session_key=expiring.session_key).update)(expire_date=past)

    assert await close_code(ann_socket) == SESSION_ENDED
    await still_open(bob_socket)
    await bob_socket.disconnect()


async def test_a_session_deleted_behind_the_sockets_back_is_caught_by_the_check(
    settings, make_user, room
):
    settings.SOCKET_SESSION_RECHECK = 0.2
    ann = await db(make_user)(username="ann")
    laptop = await db(Browser)(ann)
    socket = await laptop.open(f"/ws/chat/{room.slug}/")
    # As `manage.py clearsessions` or a flush by another process would, with no signal.
    await db(Session.objects.filter(session_key=laptop.session_key).delete)()
    async with asyncio.timeout(5):
        assert await close_code(socket) == SESSION_ENDED


@pytest.mark.postgres  # two processes share a channel layer on Redis only
@pytest.mark.timeout(60)
async def test_a_logout_closes_the_sessions_sockets_on_every_process(
    daphne_factory, make_user, room
):
    first, second = daphne_factory(), daphne_factory()
    ann = await db(make_user)(username="ann")
    laptop = await db(Browser)(ann)

    def socket(server):
        return connect(
            f"{server.ws_url}/ws/chat/{room.slug}/",
            origin=server.origin,
            additional_headers={"Cookie": laptop.cookie},
        )

    async with socket(first) as one, socket(second) as two:
        for ws in (one, two):
            while json.loads(await ws.recv())["type"] != "stream.ready":
                pass
        await db(laptop.client.post)("/accounts/logout/")
        for ws in (one, two):
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
            assert closed.value.rcvd.code == SESSION_ENDED


def test_the_periodic_check_reads_a_hundred_sessions_in_two_statements(make_user):
    # One lookup per session held the one database thread, which every
    # message waits for, for a second in a process of a thousand sockets.
    browsers = [Browser(make_user(username=f"reader{n}")) for n in range(100)]
    owner = {
        browser.session_key: int(
            Session.objects.get(session_key=browser.session_key).get_decoded()["_auth_user_id"]
        )
        for browser in browsers
    }
    expired, changed, deactivated, borrowed, unsigned = (b.session_key for b in browsers[:5])
    Session.objects.filter(session_key=expired).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    person = get_user_model().objects.get(pk=owner[changed])
    person.set_password("a new one, long enough")
    person.save()
    get_user_model().objects.filter(pk=owner[deactivated]).update(is_active=False)
    asked = {(user_id, key) for key, user_id in owner.items() if key != borrowed}
    # A session that signs in somebody else, and a socket with no session at all.
    asked |= {(owner[borrowed] + 10_000, borrowed), (owner[unsigned], None)}

    with CaptureQueriesContext(connection) as queries:
        ended = sessions_ended(asked)

    assert len(queries) <= 2
    assert ended == {
        (owner[expired], expired),
        (owner[changed], changed),
        (owner[deactivated], deactivated),
        (owner[borrowed] + 10_000, borrowed),
        (owner[unsigned], None),
    }
