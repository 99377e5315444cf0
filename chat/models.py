"""Chat rooms, who belongs to them, their messages, mentions, reactions and each room's event log.

A member's read position is a room seq (`Membership.read`): unread and mention
counts are computed from it by the selectors, never stored.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse

from streams.models import StreamEventBase


class Room(models.Model):
    class Kind(models.TextChoices):
        PUBLIC = "public", "Public"
        PRIVATE = "private", "Private"
        DIRECT = "direct", "Direct messages"

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
    # Public rooms are open to every signed-in user; private and direct ones to members only.
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PUBLIC)
    # A direct room's member ids, sorted and joined ("3,7"): finds the one room of exactly
    # those people, and the unique index keeps two dm_open racing from making two.
    direct_key = models.CharField(max_length=200, null=True, blank=True, unique=True)

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

    @property
    def stream_name(self) -> str:
        """The room's stream as the multiplexed socket names it."""
        return f"chat:{self.slug}"

    @property
    def is_public(self) -> bool:
        return self.kind == Room.Kind.PUBLIC


class Membership(models.Model):
    """A user in a room, and how far they have read it."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships"
    )
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.MEMBER)
    # The seq of the last room event the user has read: everything after it is unread.
    read = models.PositiveBigIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["joined_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="chat_membership_room_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.room} ({self.role})"


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


class Mention(models.Model):
    """A message that names a user who can read its room (`@username`)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_mentions"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="chat_mention_message_user"),
        ]
        indexes = [models.Index(fields=["user", "message"], name="chat_mention_user")]

    def __str__(self) -> str:
        return f"{self.user} in message {self.message_id}"


class ReactionManager(models.Manager):
    # Every frame that shows a reaction names its user: one query, prefetched or not.
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().select_related("user")


class Reaction(models.Model):
    """A user's emoji on a message, one of the palette (`CHAT_REACTIONS`)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_reactions"
    )
    emoji = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ReactionManager()

    class Meta:
        # The order people reacted in: a message shows its emoji, and their names, by it.
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user", "emoji"], name="chat_reaction_message_user_emoji"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.emoji} on message {self.message_id}"


class ReactionToggle(models.Model):
    """A `chat.react` that was carried out, by its `client_id`: a retry of it changes nothing.

    A toggle cannot tell a retry from a second press by the state it finds, so
    the client_ids it took are kept, as a message keeps the one it was sent with.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    client_id = models.CharField(max_length=64)
    # The seq of the event it made: a retry is answered with that event.
    seq = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "user", "client_id"], name="chat_reactiontoggle_client_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user}'s {self.client_id} on message {self.message_id}"


class RoomEvent(StreamEventBase):
    """One committed change to a room, as the frame clients receive."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="events")

    class Meta(StreamEventBase.Meta):
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="chat_roomevent_room_seq"),
        ]
