"""Chat writes. Each one commits its change under the room's next seq, then broadcasts."""

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from project.markdown import render_chat
from project.ratelimit import rate_limit
from project.streams import broadcast_on_commit, encode, stream_claim, stream_log, stream_redact

from .models import Message, Room
from .protocol import MAX_BODY, message_data

# A burst of ten messages, then one a second, per user across tabs and processes.
SEND_LIMIT = settings.CHAT_SEND_LIMIT
SEND_WINDOW = settings.CHAT_SEND_WINDOW
TYPING_EVERY = 2


def room_create(*, name: str, created_by, description: str = "") -> Room:
    name = name.strip()
    slug = slugify(name)[:80].strip("-")
    if not slug:
        raise ValidationError({"name": "Use at least one letter or digit."})
    if Room.objects.filter(slug=slug).exists():
        raise ValidationError({"name": "A room with this name already exists."})
    try:
        with transaction.atomic():
            return Room.objects.create(
                name=name, slug=slug, description=description.strip(), created_by=created_by
            )
    except IntegrityError:
        raise ValidationError({"name": "A room with this name already exists."}) from None


def _clean_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise ValidationError("A message cannot be empty.")
    if len(body) > MAX_BODY:
        raise ValidationError(f"A message is at most {MAX_BODY} characters.", code="too_long")
    return body


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
            _log(message, seq, "chat.message")
    except IntegrityError:
        # A concurrent retry of the same client_id committed first.
        existing = Message.objects.filter(room=room, author=author, client_id=client_id).first()
        if existing is None:
            raise
        return existing, False
    return message, True


def message_send(*, room: Room, author, body: str, client_id: str) -> tuple[Message, bool]:
    """message_create behind the per-user rate limit: what people do from a socket."""
    rate_limit(f"chat.send:{author.pk}", limit=SEND_LIMIT, window=SEND_WINDOW)
    return message_create(room=room, author=author, body=body, client_id=client_id)


def message_edit(*, room: Room, message_id: int, by, body: str) -> Message:
    """Change the text of one's own message."""
    body = _clean_body(body)
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
        _log(message, seq, "chat.message_updated")
    return message


def message_delete(*, room: Room, message_id: int, by) -> Message:
    """Delete a message (its author, or staff): a placeholder stays in the history."""
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
            room.events.all(), subject_id=message.pk, field="message", value=message_data(message)
        )
        _log(message, seq, "chat.message_deleted")
    return message


def typing_announce(*, room: Room, user) -> None:
    """Tell the room that `user` is typing, at most once every TYPING_EVERY seconds."""
    if cache.add(f"chat.typing:{room.pk}:{user.pk}", 1, timeout=TYPING_EVERY):
        frame = encode({"type": "chat.typing", "user": user.get_username()})
        broadcast_on_commit(room.group_name, frame=frame)


def _log(message: Message, seq: int, event_type: str) -> None:
    stream_log(
        events=message.room.events,
        group=message.room.group_name,
        seq=seq,
        event_type=event_type,
        subject_id=message.pk,
        payload={"message": message_data(message)},
    )
