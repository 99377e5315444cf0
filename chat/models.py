"""Chat rooms, their messages, and each room's event log (the stream)."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from streams.models import StreamEventBase


class Room(models.Model):
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80, unique=True, allow_unicode=True)
    description = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The stream head: the seq of the room's latest committed event.
    last_seq = models.PositiveBigIntegerField(default=0)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("chat:detail", kwargs={"slug": self.slug})

    # region: room-group-name
    @property
    def group_name(self) -> str:
        """The channel-layer group of everyone connected to this room."""
        return f"chat.room.{self.pk}"

    # endregion


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages"
    )
    body = models.TextField()
    html = models.TextField()
    client_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # The seq of the event that created the message: history pages by it.
    seq = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="chat_message_room_seq"),
            # A retried send (same client_id) finds the first message instead of a twin.
            models.UniqueConstraint(
                fields=["room", "author", "client_id"], name="chat_message_client_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.author} in {self.room}: {self.body[:40]}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class RoomEvent(StreamEventBase):
    """One committed change to a room, as the frame clients receive."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="events")

    class Meta(StreamEventBase.Meta):
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="chat_roomevent_room_seq"),
        ]
