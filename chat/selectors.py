"""Chat reads."""

from django.db.models import F, QuerySet

from .models import Message, Room, RoomEvent

PAGE = 50


def room_list() -> QuerySet[Room]:
    """Rooms, the most recently active first."""
    return Room.objects.order_by(F("last_activity_at").desc(nulls_last=True), "name")


def room_get(*, slug: str) -> Room | None:
    return Room.objects.filter(slug=slug).first()


def room_readable(*, room: Room, user) -> bool:
    """May `user` read `room` (its page, its history, its stream)?"""
    return bool(user.is_authenticated)


def room_head(*, room: Room) -> int:
    """The seq of the room's latest committed event, read fresh."""
    return Room.objects.values_list("last_seq", flat=True).get(pk=room.pk)


def room_events(*, room: Room) -> QuerySet[RoomEvent]:
    return RoomEvent.objects.filter(room=room)


# region: message-list
def message_list(*, room: Room, before_id: int | None = None, limit: int = PAGE) -> list[Message]:
    """Up to `limit` messages before message `before_id` (else the latest), oldest first.

    Messages are inserted under the room's lock, so within a room id order is seq order.
    """
    messages = Message.objects.filter(room=room).select_related("author")
    if before_id is not None:
        messages = messages.filter(pk__lt=before_id)
    return list(reversed(messages.order_by("-seq")[:limit]))


# endregion


def message_frame(*, message: Message) -> str:
    """The frame that announced the message (redacted if it was deleted since)."""
    return RoomEvent.objects.values_list("frame", flat=True).get(
        room_id=message.room_id, seq=message.seq
    )
