"""The chat socket: /ws/chat/<slug>/?after=<seq>."""

from channels.db import database_sync_to_async

from streams.consumers import StreamConsumer

from . import services
from .models import Room
from .protocol import CLIENT
from .selectors import message_frame, room_events, room_get, room_head, room_readable


# region: chat-consumer
class ChatConsumer(StreamConsumer):
    protocol = CLIENT
    sign_in_required = True
    room: Room

    # Stream hooks ------------------------------------------------------------

    async def authorise(self) -> bool:
        """Only to a room that exists and the user may read (anonymous sockets were closed
        with 4401): a private room's non-member is refused as for a missing room."""
        room = await database_sync_to_async(room_get)(
            slug=self.scope["url_route"]["kwargs"]["slug"]
        )
        if room is None or not await database_sync_to_async(room_readable)(
            room=room, user=self.user
        ):
            return False
        self.room = room
        return True

    # endregion

    def stream_group(self) -> str:
        return self.room.group_name

    def stream_events(self):
        return room_events(room=self.room)

    def stream_head(self) -> int:
        return room_head(room=self.room)

    # Client commands -----------------------------------------------------------

    # region: chat-send-command
    async def command_chat_send(self, body: str, client_id: str) -> None:
        """Post a message; a retried `client_id` gets the original back, to this socket only."""
        retry_frame = await database_sync_to_async(self.send_message)(body, client_id)
        if retry_frame is not None:
            await self.send(text_data=retry_frame)

    # endregion

    async def command_chat_edit(self, id: int, body: str) -> None:  # noqa: A002 - protocol field
        await database_sync_to_async(services.message_edit)(
            room=self.room, message_id=id, by=self.user, body=body
        )

    async def command_chat_delete(self, id: int) -> None:  # noqa: A002 - protocol field
        await database_sync_to_async(services.message_delete)(
            room=self.room, message_id=id, by=self.user
        )

    async def command_chat_typing(self) -> None:
        await database_sync_to_async(services.typing_announce)(room=self.room, user=self.user)

    # region: chat-send-message
    def send_message(self, body: str, client_id: str) -> str | None:
        message, created = services.message_send(
            room=self.room, author=self.user, body=body, client_id=client_id
        )
        return None if created else message_frame(message=message)

    # endregion
