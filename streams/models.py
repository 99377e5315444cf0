"""The engine's tables: the event-log base every stream's log extends, and presence."""

from django.conf import settings
from django.db import models


class StreamEventBase(models.Model):
    """One committed change to a stream, stored as the frame clients receive."""

    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=40)
    # The row the event is about (a message, a post): lets a later change
    # rewrite what earlier events say of it (redaction on delete).
    subject_id = models.PositiveBigIntegerField(db_index=True)
    frame = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["seq"]


class Presence(models.Model):
    """One open socket on a stream, kept fresh by its process's hub.

    Rows whose refreshes stopped (their server process died without running
    `disconnect()`) are swept by the hubs of the processes still running.
    """

    stream = models.CharField(max_length=100)
    socket_id = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # The client's address, for anonymous sockets' per-address limit (streams/limits.py).
    address = models.GenericIPAddressField(null=True, blank=True)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "socket_id"], name="presence_socket"),
        ]
        indexes = [
            models.Index(fields=["stream", "last_seen"], name="presence_fresh"),
            models.Index(fields=["address", "last_seen"], name="presence_address"),
        ]

    def __str__(self) -> str:
        return f"{self.user or 'anonymous'} on {self.stream}"


class PersonalStream(models.Model):
    """One user's own stream: what concerns only them (read positions, memberships, mentions).

    Sequenced and replayed like a room's stream; every tab of the user follows it.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    last_seq = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.user}'s stream"


class PersonalEvent(StreamEventBase):
    """One committed change to a user's own stream, as the frame their tabs receive."""

    stream = models.ForeignKey(PersonalStream, on_delete=models.CASCADE, related_name="events")

    class Meta(StreamEventBase.Meta):
        constraints = [
            models.UniqueConstraint(fields=["stream", "seq"], name="streams_personalevent_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} for user {self.stream_id}"
