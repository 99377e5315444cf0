"""Chat reads.

Unread and mention counts are computed from each member's read position
(`Membership.read`, a room seq) whenever they are asked for, never stored: a
message deleted or a position moved changes them with nothing to keep in step.
"""

import html
import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchVectorField
from django.db import connections
from django.db.models import (
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.expressions import RawSQL, Window
from django.db.models.functions import Coalesce, RowNumber

from people.cards import Card, card_of

from .models import Membership, Mention, Message, ReactionToggle, Room, RoomEvent
from .protocol import RoomEntry, SidebarRoom

PAGE = 50
# The words of a message a search result shows around its matches.
SNIPPET_WORDS = 16


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


def member_card(*, room: Room, user) -> Card | None:
    """The card of a member of the room as it now is, or None if `user` is not one: a send
    checks the one and shows the other, in one query."""
    rows = Membership.objects.filter(room=room, user_id=user.pk)
    names = list(rows.values_list("user__profile__display_name", flat=True)[:1])
    if not names:
        return None
    return card_of(user_id=user.pk, username=user.get_username(), display_name=names[0] or "")


def rooms_each_readable(*, pairs: list[tuple[Room, Any]]) -> list[bool]:
    """`room_readable` for each (room, user), in one query for all their private rooms."""
    private = [(room, user) for room, user in pairs if not room.is_public and user.is_authenticated]
    members: set[tuple[int, int]] = set()
    if private:
        rows = Membership.objects.filter(
            room__in={room.pk for room, _ in private}, user_id__in={user.pk for _, user in private}
        )
        members = set(rows.values_list("room_id", "user_id"))
    return [
        user.is_authenticated and (room.is_public or (room.pk, user.pk) in members)
        for room, user in pairs
    ]


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
    messages = Message.objects.filter(room=room).select_related("author__profile")
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


def message_around(
    *, room: Room, message_id: int, limit: int = PAGE
) -> tuple[list[Message], bool, bool] | None:
    """The messages around message `message_id` of the room, oldest first: up to half of
    `limit` before it, it, and the rest after; with whether there are older and newer ones.
    None when the room has no such message."""
    messages = Message.objects.filter(room=room).select_related("author__profile")
    messages = messages.prefetch_related("reactions")
    if not messages.filter(pk=message_id).exists():
        return None
    older = list(messages.filter(pk__lt=message_id).order_by("-seq")[: limit // 2 + 1])
    newer = list(messages.filter(pk__gte=message_id).order_by("seq")[: limit - limit // 2 + 1])
    more, later = len(older) > limit // 2, len(newer) > limit - limit // 2
    return list(reversed(older[: limit // 2])) + newer[: limit - limit // 2], more, later


def message_list_after(
    *, room: Room, after_id: int, limit: int = PAGE
) -> tuple[list[Message], bool]:
    """Up to `limit` messages after message `after_id`, oldest first, and whether there
    are more after them."""
    messages = Message.objects.filter(room=room, pk__gt=after_id)
    messages = messages.select_related("author__profile").prefetch_related("reactions")
    page = list(messages.order_by("seq")[: limit + 1])
    return page[:limit], len(page) > limit


# Search ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResult:
    """A message found: its room, and a snippet of its body as (text, matched) pieces, for
    the page to escape and mark."""

    message: Message
    room: Room
    snippet: list[tuple[str, bool]]


class _Document(Func):
    """The body's tsvector, exactly as migration 0005's GIN index has it (else no index)."""

    template = "to_tsvector('simple'::regconfig, translate(%(expressions)s, '<>', '  '))"
    output_field = SearchVectorField()


class _Escaped(Func):
    """The text with `&`, `<` and `>` as entities: ts_headline drops what looks like an HTML
    tag, and keeps entities as they are (`_search_postgres` turns them back)."""

    template = "replace(replace(replace(%(expressions)s, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"
    output_field = TextField()


def rooms_readable(*, user) -> QuerySet[Room]:
    """The rooms `user` may read (as `room_readable`): public ones, and those they are in."""
    mine = Membership.objects.filter(user_id=user.pk).values("room_id")
    return Room.objects.filter(Q(kind=Room.Kind.PUBLIC) | Q(pk__in=mine))


def message_search(
    *, user, query: str, limit: int = 20, before: int | None = None
) -> list[SearchResult]:
    """The messages matching every word of `query` in the rooms `user` may read, newest
    first: up to `limit` of them, older than message `before` if given. Deleted messages
    are never found (deleting empties the body the index is built from), nor text an
    edit replaced. Any text is a safe query: its words are searched for as words."""
    words = query.split()
    if not words or not user.is_authenticated:
        return []
    messages = Message.objects.filter(
        deleted_at__isnull=True, room__in=rooms_readable(user=user)
    ).select_related("room", "author")
    if before is not None:
        messages = messages.filter(pk__lt=before)
    vendor = connections[messages.db].vendor
    if vendor == "postgresql":
        return _search_postgres(messages, " ".join(words), limit)
    if vendor == "sqlite":
        return _search_sqlite(messages, words, limit)
    raise NotImplementedError(f"No message search on {vendor}.")


def _marks() -> tuple[str, str]:
    """Start and stop marks for the engine to put around each match: random, so that no
    message's own text can pass for one."""
    token = secrets.token_hex(8)
    return f"[{token}:", f":{token}]"


def _pieces(snippet: str, start: str, stop: str) -> list[tuple[str, bool]]:
    """The snippet as (text, matched) pieces, split at the marks the engine put in."""
    first, *marked = snippet.split(start)
    pieces = [(first, False)] if first else []
    for part in marked:
        matched, _, rest = part.partition(stop)
        pieces += [(text, flag) for text, flag in ((matched, True), (rest, False)) if text]
    return pieces


def _search_postgres(messages: QuerySet[Message], query: str, limit: int) -> list[SearchResult]:
    # plainto_tsquery: every word, and nothing in the text is an operator.
    tsquery = SearchQuery(query, config="simple", search_type="plain")
    start, stop = _marks()
    found = (
        messages.annotate(document=_Document("body"))
        .filter(document=tsquery)
        .annotate(
            snippet=SearchHeadline(
                _Escaped("body"),
                tsquery,
                config="simple",
                start_sel=start,
                stop_sel=stop,
                max_words=SNIPPET_WORDS,
                min_words=SNIPPET_WORDS // 2,
            )
        )
        .order_by("-pk")[:limit]
    )
    return [
        SearchResult(
            message=m,
            room=m.room,
            snippet=[(html.unescape(t), f) for t, f in _pieces(m.snippet, start, stop)],  # type: ignore[attr-defined]
        )
        for m in found
    ]


def _search_sqlite(messages: QuerySet[Message], words: list[str], limit: int) -> list[SearchResult]:
    # Each word an FTS5 string ("…", quotes doubled): no word is an operator (OR, NEAR,
    # *, a column filter), and the strings together mean all of them.
    match = " ".join('"{}"'.format(word.replace('"', '""')) for word in words)
    matching = RawSQL(
        "SELECT rowid FROM chat_message_search WHERE chat_message_search MATCH %s", [match]
    )
    found = list(messages.filter(pk__in=matching).order_by("-pk")[:limit])
    if not found:
        return []
    start, stop = _marks()
    ids = [message.pk for message in found]
    with connections[messages.db].cursor() as cursor:
        cursor.execute(
            "SELECT rowid, snippet(chat_message_search, 0, %s, %s, '…', %s) "
            "FROM chat_message_search WHERE chat_message_search MATCH %s "
            f"AND rowid IN ({', '.join(['%s'] * len(ids))})",
            [start, stop, SNIPPET_WORDS, match, *ids],
        )
        snippets = dict(cursor.fetchall())
    return [
        SearchResult(message=m, room=m.room, snippet=_pieces(snippets.get(m.pk, ""), start, stop))
        for m in found
    ]
