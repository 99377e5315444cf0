"""A chat room as a stream (`chat:<slug>`): how a socket follows it, and the commands it takes.

The one-stream socket (/ws/chat/<slug>/) and the multiplexed one (/ws/) both
follow a room through `RoomStream`, so both call the same services the same
way. Registered in ChatConfig.ready.
"""

from collections.abc import Sequence
from typing import Any

from channels.db import database_sync_to_async
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import QuerySet

from streams.registry import Reply, Stream

from . import services
from .models import Room
from .protocol import COMMANDS
from .selectors import message_frame, room_events, rooms_each_readable

PREFIX = "chat"


# region: rooms-resolve
def rooms_resolve(slugs: Sequence[str | None], user) -> dict[str | None, Stream | Exception]:
    """The rooms of `slugs` that `user` may read, as streams, in one query for the rooms."""
    return dict(zip(slugs, rooms_resolve_each([(slug, user) for slug in slugs]), strict=True))


def rooms_resolve_each(requests: Sequence[tuple[str | None, Any]]) -> list[Stream | Exception]:
    """Each (slug, user) as a stream that user may read, or why not: many sockets opening at
    once, whoever their users, in one query for the rooms and one for private memberships."""
    slugs = {slug for slug, _user in requests if slug}
    rooms = {room.slug: room for room in Room.objects.filter(slug__in=slugs)}
    found = [(rooms.get(slug or ""), user) for slug, user in requests]
    readable = iter(
        rooms_each_readable(pairs=[(room, user) for room, user in found if room is not None])
    )
    resolved: list[Stream | Exception] = []
    for room, user in found:
        if room is None:
            resolved.append(ObjectDoesNotExist("No such room."))
        elif not next(readable):
            resolved.append(PermissionDenied("Only the room's members can follow it."))
        else:
            resolved.append(RoomStream(room=room, user=user))
    return resolved


# endregion


class RoomStream(Stream):
    commands = COMMANDS

    def __init__(self, *, room: Room, user) -> None:
        super().__init__(name=room.stream_name, group=room.group_name, presence=room.group_name)
        self.room = room
        self.user = user

    def events(self) -> QuerySet:
        return room_events(room=self.room)

    def head(self) -> tuple[QuerySet, str]:
        return Room.objects.filter(pk=self.room.pk), "last_seq"

    # Client commands -----------------------------------------------------------

    # region: chat-send-command
    async def command_chat_send(self, reply: Reply, body: str, client_id: str) -> None:
        """Post a message; a retried `client_id` gets the original back, to this socket only."""
        retry_frame = await database_sync_to_async(self.send_message)(body, client_id)
        if retry_frame is not None:
            await reply(retry_frame)

    # endregion

    async def command_chat_edit(self, reply: Reply, id: int, body: str) -> None:  # noqa: A002
        await database_sync_to_async(services.message_edit)(
            room=self.room, message_id=id, by=self.user, body=body
        )

    async def command_chat_delete(self, reply: Reply, id: int) -> None:  # noqa: A002
        await database_sync_to_async(services.message_delete)(
            room=self.room, message_id=id, by=self.user
        )

    async def command_chat_react(
        self,
        reply: Reply,
        id: int,  # noqa: A002
        emoji: str,
        client_id: str,
    ) -> None:
        """Toggle a reaction; a retried `client_id` gets its event back, to this socket only."""
        frame, made = await database_sync_to_async(services.reaction_toggle)(
            room=self.room, user=self.user, message_id=id, emoji=emoji, client_id=client_id
        )
        if not made:
            await reply(frame)

    async def command_chat_typing(self, reply: Reply) -> None:
        await database_sync_to_async(services.typing_announce)(room=self.room, user=self.user)

    async def command_chat_read(self, reply: Reply, seq: int) -> None:
        """Move the user's read position in the room (told on their personal stream)."""
        await database_sync_to_async(services.read_mark)(room=self.room, user=self.user, seq=seq)

    # region: chat-send-message
    def send_message(self, body: str, client_id: str) -> str | None:
        message, created = services.message_send(
            room=self.room, author=self.user, body=body, client_id=client_id
        )
        return None if created else message_frame(message=message)

    # endregion
