"""Chat reads.

Unread and mention counts are computed from each member's read position
(`Membership.read`, a room seq) whenever they are asked for, never stored: a
message deleted or a position moved changes them with nothing to keep in step.
"""

from collections import defaultdict
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.expressions import Window
from django.db.models.functions import Coalesce, RowNumber

from .models import Membership, Mention, Message, ReactionToggle, Room, RoomEvent
from .protocol import RoomEntry, SidebarRoom

PAGE = 50


def room_list() -> QuerySet[Room]:
    """Public rooms, the most recently active first."""
    return Room.objects.filter(kind=Room.Kind.PUBLIC).order_by(
        F("last_activity_at").desc(nulls_last=True), "name"
    )


def room_browse(*, user) -> QuerySet[Room]:
    """The rooms `user` may open from the room list: every public room, and the private rooms
    they are a member of; each with `joined` and `owned` marked."""
    mine = Membership.objects.filter(room=OuterRef("pk"), user_id=user.pk)
    return (
        Room.objects.annotate(
            joined=Exists(mine),
            owned=Exists(mine.filter(role=Membership.Role.OWNER)),
        )
        # Exists, not a join on memberships: a join would list a room once per member.
        .filter(Q(kind=Room.Kind.PUBLIC) | Q(kind=Room.Kind.PRIVATE, joined=True))
        .order_by(F("last_activity_at").desc(nulls_last=True), "name")
    )


def room_get(*, slug: str) -> Room | None:
    return Room.objects.filter(slug=slug).first()


def room_readable(*, room: Room, user) -> bool:
    """Whether `user` may read the room: a public one if signed in, any other if a member."""
    if not user.is_authenticated:
        return False
    if room.is_public:
        return True
    return Membership.objects.filter(room=room, user_id=user.pk).exists()


def membership_get(*, room: Room, user) -> Membership | None:
    return Membership.objects.filter(room=room, user_id=user.pk).first()


def room_is_owner(*, room: Room, user) -> bool:
    return Membership.objects.filter(
        room=room, user_id=user.pk, role=Membership.Role.OWNER
    ).exists()


def room_members(*, room: Room) -> QuerySet[Membership]:
    """The room's members, owners first, then by name."""
    return (
        Membership.objects.filter(room=room)
        .select_related("user")
        .order_by(F("role").desc(), "user__username")
    )


def room_head(*, room: Room) -> int:
    """The seq of the room's latest committed event, read fresh."""
    return Room.objects.values_list("last_seq", flat=True).get(pk=room.pk)


def room_events(*, room: Room) -> QuerySet[RoomEvent]:
    return RoomEvent.objects.filter(room=room)


# Unread and mentions --------------------------------------------------------------------


# region: unread-messages
def _unread(user) -> QuerySet[Message]:
    """The messages unread by `user` in the membership row of the outer query."""
    return Message.objects.filter(
        room_id=OuterRef("room_id"), seq__gt=OuterRef("read"), deleted_at__isnull=True
    ).exclude(author_id=user.pk)


# endregion


def _count(messages: QuerySet[Message]) -> Coalesce:
    counted = messages.order_by().values("room_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _with_counts(memberships: QuerySet[Membership], user) -> QuerySet[Membership]:
    unread = _unread(user)
    return memberships.annotate(
        unread=_count(unread), mentions=_count(unread.filter(mentions__user_id=user.pk))
    )


def _entry(membership: Membership, user, names: dict[int, list[str]]) -> dict[str, Any]:
    room = membership.room
    name = room.name
    if room.kind == Room.Kind.DIRECT:
        name = ", ".join(names.get(room.pk, [])) or user.get_username()
    return {
        "stream": room.stream_name,
        "slug": room.slug,
        "name": name,
        "kind": room.kind,
        "url": room.get_absolute_url(),
        "head": room.last_seq,
        "read": min(membership.read, room.last_seq),
        "unread": membership.unread,  # type: ignore[attr-defined]
        "mentions": membership.mentions,  # type: ignore[attr-defined]
    }


def _memberships(user, rooms: QuerySet[Room] | None = None) -> tuple[list[Membership], dict]:
    """The user's memberships with their counts, and the other members' names of each of
    their direct rooms, in one query: a direct room's rows of other members come along."""
    rows = Membership.objects.filter(room__memberships__user_id=user.pk).filter(
        Q(user_id=user.pk) | Q(room__kind=Room.Kind.DIRECT)
    )
    if rooms is not None:
        rows = rows.filter(room__in=rooms)
    own, names = [], defaultdict(list)
    rows = _with_counts(rows.select_related("room", "user"), user)
    for row in rows.order_by("user__username"):
        if row.user_id == user.pk:
            own.append(row)
        else:
            names[row.room_id].append(row.user.get_username())
    return own, names


def room_entry(*, room: Room, user) -> RoomEntry:
    """The room as `user`'s sidebar shows it. Someone not in a public room has read it all."""
    own, names = _memberships(user, Room.objects.filter(pk=room.pk))
    if not own:
        head = room_head(room=room)
        return RoomEntry(
            stream=room.stream_name,
            slug=room.slug,
            name=room.name,
            kind=room.kind,  # type: ignore[arg-type]
            url=room.get_absolute_url(),
            head=head,
            read=head,
            unread=0,
            mentions=0,
        )
    return RoomEntry(**_entry(own[0], user, names))


def sidebar(*, user) -> list[SidebarRoom]:
    """The rooms `user` is in, then their direct rooms, each with its counts and the ids of
    the messages it counted: two queries, whatever the number of rooms."""
    own, names = _memberships(user)
    counted: dict[int, list[tuple[int, int]]] = defaultdict(list)
    mentioned: dict[int, list[int]] = defaultdict(list)
    for room_id, message_id, seq, mentions in _unread_ids(user):
        counted[room_id].append((message_id, seq))
        if mentions:
            mentioned[room_id].append(message_id)
    rooms = sorted(
        (row for row in own if row.room.kind != Room.Kind.DIRECT),
        key=lambda row: row.room.name.casefold(),
    )
    # Conversations, the latest active first (never active: the newest).
    direct = sorted(
        (row for row in own if row.room.kind == Room.Kind.DIRECT),
        key=lambda row: (row.room.last_activity_at or row.room.created_at, row.room.pk),
        reverse=True,
    )
    return [
        SidebarRoom(
            **_entry(row, user, names),
            unread_ids=counted[row.room_id],
            mention_ids=mentioned[row.room_id],
        )
        for row in rooms + direct
    ]


def _unread_ids(user) -> list[tuple[int, int, int, bool]]:
    """(room id, message id, seq, mentions the user) of the newest CHAT_UNREAD_IDS unread
    messages of each room the user is in."""
    messages = (
        Message.objects.filter(
            room__memberships__user_id=user.pk,
            seq__gt=F("room__memberships__read"),
            deleted_at__isnull=True,
        )
        .exclude(author_id=user.pk)
        .annotate(
            rank=Window(RowNumber(), partition_by=F("room_id"), order_by=F("seq").desc()),
            mentions_user=Exists(Mention.objects.filter(message=OuterRef("pk"), user_id=user.pk)),
        )
        .filter(rank__lte=settings.CHAT_UNREAD_IDS)
        .order_by("room_id", "-seq")
    )
    return list(messages.values_list("room_id", "pk", "seq", "mentions_user"))


def users_named(*, usernames: set[str]) -> QuerySet:
    """The active users of those names."""
    return get_user_model().objects.filter(username__in=usernames, is_active=True)


def mention_readers(*, room: Room, usernames: set[str], limit: int) -> list:
    """The active users named in `usernames` (at most `limit`) who can read the room."""
    users = users_named(usernames=usernames)
    if not room.is_public:
        users = users.filter(chat_memberships__room=room)
    return list(users.order_by("username")[:limit])


# region: message-list
def message_list(*, room: Room, before_id: int | None = None, limit: int = PAGE) -> list[Message]:
    """Up to `limit` messages before message `before_id` (else the latest), oldest first.

    Messages are inserted under the room's lock, so within a room id order is seq order.
    """
    messages = Message.objects.filter(room=room).select_related("author")
    messages = messages.prefetch_related("reactions")
    if before_id is not None:
        messages = messages.filter(pk__lt=before_id)
    return list(reversed(messages.order_by("-seq")[:limit]))


# endregion


def reaction_toggle_frame(*, message: Message, user, client_id: str) -> str | None:
    """The frame of the event `user`'s toggle `client_id` made on the message, if it made one."""
    return (
        RoomEvent.objects.filter(
            room_id=message.room_id,
            seq__in=ReactionToggle.objects.filter(
                message=message, user_id=user.pk, client_id=client_id
            ).values("seq"),
        )
        .values_list("frame", flat=True)
        .first()
    )


def message_frame(*, message: Message) -> str:
    """The frame that announced the message (redacted if it was deleted since)."""
    return RoomEvent.objects.values_list("frame", flat=True).get(
        room_id=message.room_id, seq=message.seq
    )
