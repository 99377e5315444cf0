"""Chat writes. Each one commits its change under the room's next seq, then broadcasts.

A change that concerns a user on their own (they joined or left a room, read
it further, were mentioned) is appended to that user's personal stream
(streams/personal.py) in the same transaction, so every tab of theirs hears of
it, and a tab that was away replays it.
"""

import secrets
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from people.cards import Card
from people.selectors import person_card
from streams.broadcast import broadcast_on_commit, encode
from streams.log import stream_append, stream_claim, stream_redact
from streams.markdown import mention_names, plain_text, render_chat
from streams.names import name_check, name_normalise
from streams.personal import personal_append
from streams.ratelimit import rate_limit
from streams.revocation import subscriptions_revoke
from streams.text import slug_create, text_clean

from . import protocol, selectors
from .models import Membership, Mention, Message, Reaction, ReactionToggle, Room

# Slugs a room may not take: they are the addresses of the chat's own pages.
RESERVED_SLUGS = frozenset({"dm", "search"})
# How much of a message a `user.mentioned` frame quotes.
EXCERPT = 140


def room_name_clean(name: str) -> str:
    """`name` normalised; a ValidationError when it is blank, too long, hides a character or
    mixes scripts (streams/names.py)."""
    # Bounded after normalising: NFKC can turn one character into many.
    limit = Room._meta.get_field("name").max_length or 0
    name = text_clean(name_normalise(name), limit=limit, noun="A room name")
    name_check(name, noun="A room name")
    return name


def room_create(
    *, name: str, created_by, description: str = "", kind: str = Room.Kind.PUBLIC
) -> Room:
    """Create a public or private room named `name` in any one script; its slug keeps that
    script's letters. Its creator owns it."""
    if kind not in (Room.Kind.PUBLIC, Room.Kind.PRIVATE):
        raise ValidationError({"kind": "A room is public or private (dm_open makes direct ones)."})
    try:
        name = room_name_clean(name)
    except ValidationError as error:
        raise ValidationError({"name": error}) from None
    with transaction.atomic():
        room = slug_create(
            Room,
            source=name,
            field="name",
            taken="A room with this name already exists.",
            reserved=RESERVED_SLUGS,
            allow_unicode=True,
            name=name,
            description=description.strip(),
            created_by=created_by,
            kind=kind,
        )
        if created_by is not None:
            _member_create(room=room, user=created_by, role=Membership.Role.OWNER)
    return room


def room_open(
    *, name: str, created_by, description: str = "", kind: str = Room.Kind.PUBLIC
) -> Room:
    """room_create behind the per-user rate limit: what people do from the room list.

    ROOM_CREATE_LIMIT rooms every ROOM_CREATE_WINDOW seconds, per user across
    processes; refused attempts count too.
    """
    limit, window = settings.ROOM_CREATE_LIMIT, settings.ROOM_CREATE_WINDOW
    rate_limit(f"room.create:{created_by.pk}", limit=limit, window=window)
    return room_create(name=name, created_by=created_by, description=description, kind=kind)


# Memberships ------------------------------------------------------------------------


def _member_create(*, room: Room, user, role: str = Membership.Role.MEMBER) -> Membership:
    """Make `user` a member (inside a transaction), read up to the head: what came before
    they joined is not unread. Tells the user's tabs with `user.joined`."""
    membership, created = Membership.objects.get_or_create(
        room=room,
        user=user,
        # Called only when the membership is new: a member's send reads no head.
        defaults={"role": role, "read": lambda: selectors.room_head(room=room)},
    )
    if created:
        _tell_joined(room=room, user=user)
    return membership


def _tell_joined(*, room: Room, user) -> None:
    entry = selectors.room_entry(room=room, user=user)
    personal_append(user=user, frame=protocol.UserJoined, subject_id=room.pk, room=entry)


def room_join(*, room: Room, user) -> Membership:
    """Join a public room (joining one already joined changes nothing)."""
    if not room.is_public:
        raise PermissionDenied("Only the room's owners can add people to it.")
    with transaction.atomic():
        return _member_create(room=room, user=user)


def room_leave(*, room: Room, user) -> None:
    """Leave a room. A private or direct one then refuses the user until they are added again,
    and their open subscriptions to it are dropped."""
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(room=room, user_id=user.pk).delete()
        if deleted:
            _tell_left(room=room, user=user)


# region: tell-left
def _tell_left(*, room: Room, user) -> None:
    personal_append(user=user, frame=protocol.UserLeft, subject_id=room.pk, room=room.stream_name)
    if not room.is_public:
        subscriptions_revoke(user_id=user.pk, stream=room.stream_name)


# endregion


def _require_owner(*, room: Room, by) -> None:
    if room.kind != Room.Kind.PRIVATE:
        raise PermissionDenied("Only private rooms have members to manage.")
    if not selectors.room_is_owner(room=room, user=by):
        raise PermissionDenied("Only the room's owners can manage its members.")


def member_add(*, room: Room, by, user) -> Membership:
    """An owner of a private room adds `user` to it."""
    _require_owner(room=room, by=by)
    if not user.is_active:
        raise ValidationError("This account is not active.")
    with transaction.atomic():
        return _member_create(room=room, user=user)


def member_remove(*, room: Room, by, user) -> None:
    """An owner of a private room removes `user` from it (leaving is room_leave)."""
    _require_owner(room=room, by=by)
    if user.pk == by.pk:
        raise PermissionDenied("Leave the room instead.")
    room_leave(room=room, user=user)


def dm_open(*, by, users) -> Room:
    """The direct room of exactly `by` and `users`: the existing one, else a new one.

    Everyone in it who had left it is back in; each newcomer hears `user.joined`.
    """
    people = {user.pk: user for user in [by, *users]}
    if len(people) < 2:
        raise ValidationError("Name at least one other person.")
    if len(people) > settings.CHAT_DIRECT_MEMBERS:
        raise ValidationError(
            f"A direct conversation has at most {settings.CHAT_DIRECT_MEMBERS} people."
        )
    if not all(user.is_active for user in people.values()):
        raise ValidationError("One of these accounts is not active.")
    key = _direct_key(people)
    try:
        with transaction.atomic():
            room = Room.objects.filter(direct_key=key).first()
            if room is None:
                room = Room.objects.create(
                    kind=Room.Kind.DIRECT,
                    direct_key=key,
                    name=", ".join(sorted(user.get_username() for user in people.values())),
                    slug=f"dm-{secrets.token_hex(8)}",
                    created_by=by,
                )
            # Every membership first: each user.joined names the others. Someone back
            # after leaving starts read up to the head, as every joiner does.
            added = [
                user
                for user in people.values()
                if Membership.objects.get_or_create(
                    room=room, user=user, defaults={"read": room.last_seq}
                )[1]
            ]
            for user in added:
                _tell_joined(room=room, user=user)
    except IntegrityError:
        # A concurrent dm_open of the same people committed first.
        return Room.objects.get(direct_key=key)
    return room


def _direct_key(people) -> str:
    return ",".join(str(pk) for pk in sorted(people))


def dm_start(*, by, users) -> Room:
    """dm_open from the page: a conversation it would start counts against the room creation
    limit (ROOM_CREATE_LIMIT every ROOM_CREATE_WINDOW seconds); finding one does not."""
    if not Room.objects.filter(direct_key=_direct_key({by.pk, *(u.pk for u in users)})).exists():
        limit, window = settings.ROOM_CREATE_LIMIT, settings.ROOM_CREATE_WINDOW
        rate_limit(f"room.create:{by.pk}", limit=limit, window=window)
    return dm_open(by=by, users=users)


# region: read-mark
def read_mark(*, room: Room, user, seq: int) -> int:
    """Move `user`'s read position in the room forward to `seq` (never back, never past the
    head); returns the position. Every tab of the user hears of a move (`user.read`).

    Someone who is not a member keeps no position: nothing changes, and 0 comes back.
    """
    with transaction.atomic():
        read = min(max(seq, 0), selectors.room_head(room=room))
        # One conditional UPDATE: two tabs marking at once cannot move it back.
        moved = Membership.objects.filter(room=room, user_id=user.pk, read__lt=read).update(
            read=read
        )
        if moved:
            personal_append(
                user=user,
                frame=protocol.UserRead,
                subject_id=room.pk,
                room=room.stream_name,
                read=read,
            )
            return read
    membership = selectors.membership_get(room=room, user=user)
    return membership.read if membership is not None else 0


# endregion


def _clean_body(body: str) -> str:
    return text_clean(body, limit=protocol.MAX_BODY, noun="A message")


# region: message-create
def message_create(*, room: Room, author, body: str, client_id: str) -> tuple[Message, bool]:
    """Post a message; a retry with the same `client_id` returns the first one, unchanged.

    Returns the message and whether this call created it.
    """
    body = _clean_body(body)
    html, mentioned = _render(room=room, author=author, body=body)
    try:
        with transaction.atomic():
            card = _sender_join(room=room, author=author)
            now = timezone.now()
            seq = stream_claim(room, last_activity_at=now)
            message = Message.objects.create(
                room=room,
                author=author,
                body=body,
                html=html,
                client_id=client_id,
                seq=seq,
            )
            # A new message has no reactions: its frame needs no query for them.
            _log(message, seq, protocol.MessagePosted, reactions=(), author=card)
            _mentions_record(message=message, users=mentioned)
    except IntegrityError:
        # The room has this client_id already (a retry, or a concurrent retry that
        # committed first): the unique constraint refused the insert, the rollback
        # gave the seq back, and the first message is the answer.
        existing = Message.objects.filter(room=room, author=author, client_id=client_id).first()
        if existing is None:
            raise
        return existing, False
    return message, True


# endregion


def _render(*, room: Room, author, body: str) -> tuple[str, list]:
    """The message's html, each `@username` of an active user a link, and the users it
    mentions who can read the room (at most CHAT_MENTIONS_PER_MESSAGE, the author never)."""
    names = set(mention_names(body))
    if not names:
        return render_chat(body), []
    users = list(selectors.users_named(usernames=names))
    html = render_chat(body, mentions={user.get_username(): _person_url(user) for user in users})
    readers = selectors.mention_readers(
        room=room,
        usernames=names - {author.get_username()},
        limit=settings.CHAT_MENTIONS_PER_MESSAGE,
    )
    return html, readers


def _person_url(user) -> str:
    return f"{reverse('chat:dm')}?{urlencode({'with': user.get_username()})}"


def _sender_join(*, room: Room, author) -> Card:
    """Sending in a public room joins it; a private or direct one takes members only.

    Returns the author's card for the message's frame: a member's is read with
    their membership, in one query.
    """
    card = selectors.member_card(room=room, user=author)
    if card is not None:
        return card
    if not room.is_public:
        raise PermissionDenied("Only the room's members can write in it.")
    _member_create(room=room, user=author)
    return person_card(user=author)


def _mentions_record(*, message: Message, users: list) -> None:
    """A Mention row for each user, and a `user.mentioned` to each of them."""
    Mention.objects.bulk_create(Mention(message=message, user=user) for user in users)
    excerpt = plain_text(message.html, limit=EXCERPT)
    for user in users:
        personal_append(
            user=user,
            frame=protocol.UserMentioned,
            subject_id=message.pk,
            room=message.room.stream_name,
            message=message.pk,
            message_seq=message.seq,
            author=message.author.get_username(),
            excerpt=excerpt,
        )


# region: message-send
def message_send(*, room: Room, author, body: str, client_id: str) -> tuple[Message, bool]:
    """message_create behind the per-user rate limit: what people do from a socket.

    CHAT_SEND_LIMIT messages in a burst, then CHAT_SEND_LIMIT every
    CHAT_SEND_WINDOW seconds, per user across tabs and processes. A send
    refused for its text is not counted, as an edit is not.
    """
    _clean_body(body)
    limit, window = settings.CHAT_SEND_LIMIT, settings.CHAT_SEND_WINDOW
    rate_limit(f"chat.send:{author.pk}", limit=limit, window=window)
    return message_create(room=room, author=author, body=body, client_id=client_id)


# endregion


def _count_change(by) -> None:
    """Edits and deletes share one per-user limit: CHAT_CHANGE_LIMIT per CHAT_SEND_WINDOW."""
    limit, window = settings.CHAT_CHANGE_LIMIT, settings.CHAT_SEND_WINDOW
    rate_limit(f"chat.change:{by.pk}", limit=limit, window=window)


def message_edit(*, room: Room, message_id: int, by, body: str) -> Message:
    """Change the text of one's own message."""
    body = _clean_body(body)
    _count_change(by)
    message = Message.objects.get(pk=message_id, room=room, deleted_at__isnull=True)
    if message.author_id != by.pk:
        raise PermissionDenied("Only the author can edit a message.")
    with transaction.atomic():
        seq = stream_claim(room)
        message = Message.objects.select_for_update().get(pk=message.pk, deleted_at__isnull=True)
        message.body = body
        # The links of the mentions, but no new Mention: an edit notifies nobody.
        message.html = _render(room=room, author=by, body=body)[0]
        message.edited_at = timezone.now()
        message.save(update_fields=["body", "html", "edited_at"])
        _log(message, seq, protocol.MessageUpdated)
    return message


def message_delete(*, room: Room, message_id: int, by) -> Message:
    """Delete a message (its author, or staff): a placeholder stays in the history."""
    _count_change(by)
    message = Message.objects.get(pk=message_id, room=room, deleted_at__isnull=True)
    if message.author_id != by.pk and not by.is_staff:
        raise PermissionDenied("Only the author or staff can delete a message.")
    with transaction.atomic():
        seq = stream_claim(room)
        message = Message.objects.select_for_update().get(pk=message.pk, deleted_at__isnull=True)
        message.deleted_at = timezone.now()
        message.body = ""
        message.html = ""
        message.save(update_fields=["deleted_at", "body", "html"])
        # Its reactions go with it.
        message.reactions.all().delete()
        # A replay must not bring the deleted text back, nor who reacted to it.
        events = room.events.all()
        reactions = protocol.MessageReactions.model_fields["type"].default
        stream_redact(
            events.exclude(type=reactions),
            subject_id=message.pk,
            field="message",
            value=protocol.Message.of(message).model_dump(),
        )
        stream_redact(
            events.filter(type=reactions), subject_id=message.pk, field="reactions", value=[]
        )
        _log(message, seq, protocol.MessageDeleted)
    return message


# region: reaction-toggle
def reaction_toggle(
    *, room: Room, user, message_id: int, emoji: str, client_id: str
) -> tuple[str, bool]:
    """Add `user`'s `emoji` to a message of the room, or take it back if it is there.

    Returns the frame of the event that says so, and whether this call made it:
    a retry with the same `client_id` changes nothing and gets that event.
    Counted with edits and deletes (CHAT_CHANGE_LIMIT).
    """
    if emoji not in settings.CHAT_REACTIONS:
        raise ValidationError("Pick one of the reactions the room offers.")
    message = Message.objects.get(pk=message_id, room=room, deleted_at__isnull=True)
    if not selectors.room_readable(room=room, user=user):
        raise PermissionDenied("Only the room's members can react in it.")
    done = selectors.reaction_toggle_frame(message=message, user=user, client_id=client_id)
    if done is not None:
        return done, False
    _count_change(user)
    try:
        with transaction.atomic():
            seq = stream_claim(room)
            # A concurrent retry of the same client_id that got here first fails this.
            ReactionToggle.objects.create(message=message, user=user, client_id=client_id, seq=seq)
            message = Message.objects.select_for_update().get(pk=message.pk, deleted_at=None)
            mine = Reaction.objects.filter(message=message, user_id=user.pk, emoji=emoji)
            if not mine.delete()[0]:
                _reaction_add(message=message, user=user, emoji=emoji)
            return _reactions_log(room, message, seq), True
    except IntegrityError:
        done = selectors.reaction_toggle_frame(message=message, user=user, client_id=client_id)
        if done is None:
            raise
        return done, False


def _reactions_log(room: Room, message: Message, seq: int) -> str:
    """Append all of the message's reactions, as they now are, to the room's stream as `seq`:
    a page replaces what it shows, so a replay or a resume needs nothing new."""
    frame = protocol.MessageReactions(
        seq=seq, id=message.pk, reactions=protocol.Reaction.list_of(message.reactions.all())
    )
    event = stream_append(
        events=room.events,
        group=room.group_name,
        seq=seq,
        frame=frame.model_dump(),
        subject_id=message.pk,
    )
    return event.frame


# endregion


def _reaction_add(*, message: Message, user, emoji: str) -> None:
    if message.reactions.count() >= settings.CHAT_REACTIONS_PER_MESSAGE:
        raise ValidationError("This message has all the reactions it can take.")
    Reaction.objects.create(message=message, user=user, emoji=emoji)


def typing_announce(*, room: Room, user) -> None:
    """Tell the room that `user` is typing, at most once every CHAT_TYPING_EVERY seconds.

    Per user, whichever room: one person types in one place at a time. Typing
    over the limit is dropped without an answer, as it is ephemeral: the
    client repeats it while the user types, and nothing is lost.
    """
    if cache.add(f"chat.typing:{user.pk}", 1, timeout=settings.CHAT_TYPING_EVERY):
        frame = encode(protocol.UserTyping(user=user.get_username()).model_dump())
        broadcast_on_commit(room.group_name, frame=frame)


def _log(
    message: Message,
    seq: int,
    frame: type[protocol.MessagePosted | protocol.MessageUpdated | protocol.MessageDeleted],
    *,
    reactions: Iterable[Reaction] | None = None,
    author: Card | None = None,
) -> None:
    """Append the event `frame` about `message` to its room's stream as `seq` (with its
    `reactions` and its `author`'s card where they are known: protocol.Message.of)."""
    stream_append(
        events=message.room.events,
        group=message.room.group_name,
        seq=seq,
        frame=frame(
            seq=seq, message=protocol.Message.of(message, reactions=reactions, author=author)
        ).model_dump(),
        subject_id=message.pk,
    )
