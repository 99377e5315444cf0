"""Chat writes. Each one commits its change under the room's next seq, then broadcasts."""

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from streams.broadcast import broadcast_on_commit, encode
from streams.log import stream_append, stream_claim, stream_redact
from streams.markdown import render_chat
from streams.names import name_check, name_normalise
from streams.ratelimit import rate_limit
from streams.text import slug_create, text_clean

from . import protocol
from .models import Message, Room


def room_name_clean(name: str) -> str:
    """`name` normalised; a ValidationError when it is blank, too long, hides a character or
    mixes scripts (streams/names.py)."""
    # Bounded after normalising: NFKC can turn one character into many.
    limit = Room._meta.get_field("name").max_length or 0
    name = text_clean(name_normalise(name), limit=limit, noun="A room name")
    name_check(name, noun="A room name")
    return name


def room_create(*, name: str, created_by, description: str = "") -> Room:
    """Create a room named `name` in any one script; its slug keeps that script's letters."""
    try:
        name = room_name_clean(name)
    except ValidationError as error:
        raise ValidationError({"name": error}) from None
    return slug_create(
        Room,
        source=name,
        field="name",
        taken="A room with this name already exists.",
        allow_unicode=True,
        name=name,
        description=description.strip(),
        created_by=created_by,
    )


def room_open(*, name: str, created_by, description: str = "") -> Room:
    """room_create behind the per-user rate limit: what people do from the room list.

    ROOM_CREATE_LIMIT rooms every ROOM_CREATE_WINDOW seconds, per user across
    processes; refused attempts count too.
    """
    limit, window = settings.ROOM_CREATE_LIMIT, settings.ROOM_CREATE_WINDOW
    rate_limit(f"room.create:{created_by.pk}", limit=limit, window=window)
    return room_create(name=name, created_by=created_by, description=description)


def _clean_body(body: str) -> str:
    return text_clean(body, limit=protocol.MAX_BODY, noun="A message")


# region: message-create
def message_create(*, room: Room, author, body: str, client_id: str) -> tuple[Message, bool]:
    """Post a message; a retry with the same `client_id` returns the first one, unchanged.

    Returns the message and whether this call created it.
    """
    body = _clean_body(body)
    existing = Message.objects.filter(room=room, author=author, client_id=client_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            now = timezone.now()
            seq = stream_claim(room, last_activity_at=now)
            message = Message.objects.create(
                room=room,
                author=author,
                body=body,
                html=render_chat(body),
                client_id=client_id,
                seq=seq,
            )
            _log(message, seq, protocol.MessagePosted)
    except IntegrityError:
        # A concurrent retry of the same client_id committed first.
        existing = Message.objects.filter(room=room, author=author, client_id=client_id).first()
        if existing is None:
            raise
        return existing, False
    return message, True


# endregion


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
        message.html = render_chat(body)
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
        # A replay must not bring the deleted text back.
        stream_redact(
            room.events.all(),
            subject_id=message.pk,
            field="message",
            value=protocol.Message.of(message).model_dump(),
        )
        _log(message, seq, protocol.MessageDeleted)
    return message


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
) -> None:
    """Append the event `frame` about `message` to its room's stream as `seq`."""
    stream_append(
        events=message.room.events,
        group=message.room.group_name,
        seq=seq,
        frame=frame(seq=seq, message=protocol.Message.of(message)).model_dump(),
        subject_id=message.pk,
    )
