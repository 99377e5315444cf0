"""The one-stream chat socket and private rooms: members only, and a removed member's socket
closes. On the real ASGI application; marked `stack`: the revocation crosses Redis there."""

import pytest

from chat import services
from chat.models import Room
from tests.support.orm import db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.stack]

RIGHTS_CHANGED = 4403


def private_room_of(owner, *members):
    room = services.room_create(name="Staff", created_by=owner, kind=Room.Kind.PRIVATE)
    for member in members:
        services.member_add(room=room, by=owner, user=member)
    return room


async def test_a_private_room_refuses_the_socket_of_anyone_not_in_it(connect, make_user):
    olga, stranger = await db(make_user)(username="olga"), await db(make_user)()
    room = await db(private_room_of)(olga)

    assert await connect(stranger, room, expect=False) is None
    client = await connect(olga, room)
    assert client is not None
    await client.close()


async def test_a_direct_room_refuses_the_socket_of_anyone_not_in_it(connect, make_user):
    ann, bob, carol = [await db(make_user)() for _ in range(3)]
    room = await db(services.dm_open)(by=ann, users=[bob])

    assert await connect(carol, room, expect=False) is None
    client = await connect(bob, room)
    await db(services.message_create)(room=room, author=ann, body="hi", client_id="c1")
    assert (await client.receive_type("chat.message"))["message"]["body"] == "hi"
    await client.close()


async def test_a_member_removed_from_a_private_room_has_their_socket_closed(connect, make_user):
    olga, bob = await db(make_user)(username="olga"), await db(make_user)(username="bob")
    room = await db(private_room_of)(olga, bob)
    client = await connect(bob, room)

    await db(services.member_remove)(room=room, by=olga, user=bob)

    closed = await client.communicator.receive_output(timeout=5)
    while closed["type"] != "websocket.close":
        closed = await client.communicator.receive_output(timeout=5)
    assert closed["code"] == RIGHTS_CHANGED
