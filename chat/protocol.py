"""The chat socket's frames. Documented in docs/protocol.md."""

from typing import Any

from streams.schemas import ERROR, PING, PONG, READY, SYNC, Field, Frame, Protocol

from .models import Message

MAX_BODY = 4000

# What a client may send.
SEND = Frame(
    "chat.send",
    {
        "body": Field(str, max_length=MAX_BODY, too_long_code="too_long"),
        "client_id": Field(str, min_length=1, max_length=64),
    },
)
EDIT = Frame(
    "chat.edit",
    {
        "id": Field(int, min_value=1),
        "body": Field(str, max_length=MAX_BODY, too_long_code="too_long"),
    },
)
DELETE = Frame("chat.delete", {"id": Field(int, min_value=1)})
TYPING = Frame("chat.typing")

CLIENT = Protocol(SEND, EDIT, DELETE, TYPING, SYNC, PING)

# What the server sends.
MESSAGE_FIELDS = {
    "id": Field(int),
    "author": Field(str),
    "body": Field(str),
    "html": Field(str),
    "client_id": Field(str),
    "created_at": Field(str),
    "edited_at": Field(str, nullable=True),
    "deleted": Field(bool),
}
MESSAGE_EVENT = {"seq": Field(int, min_value=1), "message": Field(dict, fields=MESSAGE_FIELDS)}

SERVER = Protocol(
    Frame("chat.message", MESSAGE_EVENT),
    Frame("chat.message_updated", MESSAGE_EVENT),
    Frame("chat.message_deleted", MESSAGE_EVENT),
    Frame("chat.typing", {"user": Field(str)}),
    Frame("presence", {"users": Field(list, items=str), "count": Field(int)}),
    READY,
    PONG,
    ERROR,
)


def message_data(message: Message) -> dict[str, Any]:
    """A message as every frame and the history endpoint show it."""
    return {
        "id": message.pk,
        "author": message.author.get_username(),
        "body": "" if message.is_deleted else message.body,
        "html": "" if message.is_deleted else message.html,
        "client_id": message.client_id,
        "created_at": message.created_at.isoformat(),
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
        "deleted": message.is_deleted,
    }
