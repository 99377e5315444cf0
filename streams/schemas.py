"""The protocol in code: one closed pydantic model per frame, and the frames every stream shares.

A frame is a JSON object with a dotted `type`. Each frame, inbound command or
outbound event, is declared once as a `Frame`: unknown keys are errors, types
are strict (`true` is never an integer, `"1"` never a number), and `type` is a
literal. The same model validates what arrives and builds what is sent. One
side of a socket is a `Protocol`: the union of the frames that side may send,
discriminated on `type`. Consumers validate inbound frames with
`Protocol.parse`; the tests check every frame a socket receives with
`Protocol.check`; docs/protocol.md's tables and docs/asyncapi.json are
generated from these models (`manage.py protocol_docs`).

A refused frame is told what is wrong in the protocol's own words (a
`ProtocolError` with one of `ERROR_CODES`), never in pydantic's.
"""

from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    model_serializer,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import ErrorDetails

ErrorCode = Literal[
    "invalid_json",
    "invalid_frame",
    "unknown_type",
    "too_long",
    "rate_limited",
    "not_allowed",
    "not_found",
    "server_error",
]

# When each code is sent: docs/protocol.md's table of errors.
ERROR_CODES: dict[ErrorCode, str] = {
    "invalid_json": (
        "The text is not JSON, or holds a number of over 4300 digits (more than Python reads)."
    ),
    "invalid_frame": (
        "Not an object; no string `type`; a missing field, a field of the wrong type, an unknown"
        " field, a blank body; an emoji not in the palette, or one reaction too many on a message;"
        " a binary frame; nesting deeper than any frame has; text with a NUL or an unpaired"
        " surrogate. Do not send it again as it is."
    ),
    "unknown_type": "A `type` this socket does not speak.",
    "too_long": "A text over its length limit, where a field says so (a chat message's body).",
    "rate_limited": (
        "Over a per-user limit (sends; edits, deletes and reactions), counted across all of the"
        " user's tabs and server processes (kept in the shared cache). Nothing was written;"
        " retry later."
    ),
    "not_allowed": (
        "Editing someone else's message; deleting it without being staff. On a liveblog socket:"
        " any frame but `ping` and `stream.sync`. On the multiplexed socket: joining a private"
        " room one is not a member of, or more than `STREAMS_PER_SOCKET` streams; a command for"
        " a stream not joined, or for one that only listens."
    ),
    "not_found": (
        "No such message in this room (or it was deleted). On the multiplexed socket: joining a"
        " stream that does not exist."
    ),
    "server_error": (
        "The server failed while handling the frame; nothing was half-saved: retry, with the same"
        " `client_id`."
    ),
}


# No frame of the protocol nests deeper than this; a deeper one is refused unread.
MAX_DEPTH = 8
TOO_DEEP = "The frame is nested too deeply."
MAX_STREAM_NAME = 200


def client_id_of(frame: Any) -> str | None:
    """The frame's `client_id`, if it has a string one: every error about the frame carries it.

    Not one with a NUL or a lone surrogate: the error would carry what the
    protocol refuses, and a client could not match it to anything it sent.
    """
    client_id = frame.get("client_id") if isinstance(frame, dict) else None
    if not isinstance(client_id, str) or text_problem(client_id) is not None:
        return None
    return client_id


def stream_of(frame: Any) -> str | None:
    """The stream a frame names on the multiplexed socket, if it names one an error may carry."""
    stream = frame.get("stream") if isinstance(frame, dict) else None
    if not isinstance(stream, str) or not 0 < len(stream) <= MAX_STREAM_NAME:
        return None
    return stream if text_problem(stream) is None else None


def text_problem(value: Any) -> str | None:
    """What makes a parsed frame unfit to store, if anything: nesting past MAX_DEPTH, or text
    with a NUL or a lone surrogate (JSON escapes allow both; no database stores them)."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            return TOO_DEEP
        if isinstance(item, str):
            if "\x00" in item:
                return "Text must not contain NUL characters."
            if not item.isascii():
                try:
                    item.encode()
                except UnicodeEncodeError:
                    return "Text must not contain unpaired surrogates."
        elif isinstance(item, dict):
            pending.extend((part, depth + 1) for pair in item.items() for part in pair)
        elif isinstance(item, list):
            pending.extend((part, depth + 1) for part in item)
    return None


class ProtocolError(Exception):
    """A frame that breaks the protocol: answered with an error frame."""

    def __init__(
        self,
        code: ErrorCode,
        detail: str,
        *,
        client_id: str | None = None,
        stream: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.client_id = client_id
        # On the multiplexed socket, the stream the frame was about.
        self.stream = stream


class TooLong:
    """A field's marker (in its `Annotated[...]`): a value over its max_length is `too_long`.

    Without it, an over-long value is `invalid_frame` like any other malformed field.
    """

    def __repr__(self) -> str:
        return "TOO_LONG"


TOO_LONG = TooLong()


class Schema(BaseModel):
    """A closed JSON object of the protocol: a frame, or an object a frame carries.

    What the server sends is built with the validating constructor, then
    `model_dump()`, once per committed change (the frame is encoded once, at
    commit). `model_construct()` would skip the checks without saving time:
    it is a Python loop, and measured no faster than pydantic's compiled
    validator here (a whole `chat.message` frame built and dumped: about
    8 µs, against 2 µs for a hand-made dict, in a write that takes
    milliseconds). A value of the wrong type then fails where it is built,
    not in a client.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        # A parametrised generic (`PostCreated[ReaderPost]`) is a subclass with
        # no docstring of its own: it is described by its origin's.
        origin = cls.__pydantic_generic_metadata__["origin"]
        if origin is not None and cls.__doc__ is None:
            cls.__doc__ = origin.__doc__


def _type_is_required(schema: dict[str, Any]) -> None:
    # `type` has a default so that code building a frame need not repeat it;
    # on the wire it is always there, so the JSON Schema requires it.
    schema["required"] = ["type", *(name for name in schema.get("required", []) if name != "type")]


class Frame(Schema):
    """A whole frame: a JSON object with a dotted `type`, which each frame narrows to a literal."""

    model_config = ConfigDict(json_schema_extra=_type_is_required)

    type: str


# Seqs: an event's place in its stream, and a stream's head (0 before its first event).
Seq = Annotated[int, Field(ge=1, description="The event's place in the stream.")]
Head = Annotated[int, Field(ge=0)]
# Times are strings as `datetime.isoformat()` writes them, offset included (`+00:00`):
# a pydantic datetime would be written with `Z`, and the wire would change.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
# A person's avatar colour (people/cards.py): the class `avatar-c<N>`.
AvatarColour = Annotated[
    int, Field(ge=0, le=11, description="Their avatar's colour, 0-11: CSS class `avatar-c<N>`.")
]


# Frames every stream socket speaks, whatever the stream --------------------------


class Ping(Frame):
    """Keep-alive, sent every 10 s; answered with `pong`, without which the client reconnects."""

    type: Literal["ping"] = "ping"


class Sync(Frame):
    """Replay every event after seq `after`: the client saw a gap. Ends with `stream.ready`."""

    type: Literal["stream.sync"] = "stream.sync"
    after: Head = Field(description="The last seq the client applied.")


class Pong(Frame):
    """The answer to `ping`, with the stream's head, so a client whose last event was dropped
    notices and syncs."""

    type: Literal["pong"] = "pong"
    seq: Head = Field(description="The stream's head: the seq of its latest event.")


class Ready(Frame):
    """A replay is complete; live events follow."""

    type: Literal["stream.ready"] = "stream.ready"
    seq: Head = Field(description="The last seq replayed, or the head when nothing was missed.")


class Person(Schema):
    """A signed-in user as a page shows them."""

    username: str = Field(description="Their username.")
    name: str = Field(description="Their display name, or their username.")
    colour: AvatarColour


PresenceRef = Annotated[
    str,
    Field(
        min_length=16,
        max_length=16,
        description="One socket on the stream, opaque: the same for as long as the socket stays.",
    ),
]


class PresenceJoin(Schema):
    """One signed-in socket on the stream, and who has it open."""

    ref: PresenceRef
    username: str = Field(description="Their username.")
    name: str = Field(description="Their display name, or their username.")
    colour: AvatarColour


class PresenceLeave(Schema):
    """A socket that left the stream (closed, or its server process died)."""

    ref: PresenceRef


class PresenceState(Frame):
    """Who is here now, once, when the socket joins: every socket on the stream. The
    `presence.diff` frames that follow change it. Not part of the stream: no seq."""

    type: Literal["presence.state"] = "presence.state"
    refs: list[PresenceJoin] = Field(
        description="Every signed-in socket: a user with three tabs open has three refs."
    )
    count: int = Field(ge=0, description="How many people: the users, each once.")


class PresenceDiff(Frame):
    """Sockets that came and went since the last `presence.state` or `presence.diff`:
    apply `leaves`, then `joins`. A user is here while any of their refs is. Not part of
    the stream: no seq."""

    type: Literal["presence.diff"] = "presence.diff"
    joins: list[PresenceJoin] = Field(description="The sockets that came, and whose they are.")
    leaves: list[PresenceLeave] = Field(description="The sockets that went.")


class PresenceCount(Frame):
    """How many people are here now, on a stream that shows no names. Not part of the stream:
    no seq."""

    type: Literal["presence"] = "presence"
    count: int = Field(ge=0, description="How many people: signed in, or not, counted once each.")


# A stream's name on the multiplexed socket: `chat:<slug>`, `liveblog:<slug>`, or `user`.
StreamName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_STREAM_NAME,
        description="The stream's name: `chat:<slug>`, `liveblog:<slug>`, or `user`.",
    ),
]


# region: error-frame
class Error(Frame):
    """A frame was refused. The socket stays open."""

    type: Literal["error"] = "error"
    code: ErrorCode = Field(description="What was wrong (see the table of errors).")
    detail: str = Field(description="The same, for people.")
    client_id: str | SkipJsonSchema[None] = Field(
        default=None,
        description=(
            "The refused frame's `client_id`, whatever the error, when it had a string one"
            " (without a NUL or a lone surrogate)."
        ),
    )
    # endregion
    stream: StreamName | SkipJsonSchema[None] = Field(
        default=None,
        description=(
            "On the multiplexed socket: the stream the refused frame named, or whose join was"
            " refused."
        ),
    )

    @model_serializer(mode="wrap")
    def _absent_not_null(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Without a client_id (a stream) the key is absent, never null. (Field(exclude_if=...)
        # would say so too, but pydantic before 2.12 ignores it without a word.)
        frame = handler(self)
        for key in ("client_id", "stream"):
            if frame[key] is None:
                del frame[key]
        return frame


# The multiplexed socket's own frames ----------------------------------------------


class Join(Frame):
    """Follow a stream: its events after `after`, then `stream.ready`, then live. A stream
    already followed is synced. Refused with an `error` naming the stream."""

    type: Literal["stream.join"] = "stream.join"
    stream: StreamName
    after: Head | SkipJsonSchema[None] = Field(
        default=None,
        description="The last seq the client applied; without it, nothing is replayed.",
    )


class Leave(Frame):
    """Stop following a stream; answered with `stream.left`."""

    type: Literal["stream.leave"] = "stream.leave"
    stream: StreamName


class StreamSync(Frame):
    """Replay one stream's events after seq `after`: the client saw a gap. Ends with that
    stream's `stream.ready`."""

    type: Literal["stream.sync"] = "stream.sync"
    stream: StreamName
    after: Head = Field(description="The last seq the client applied.")


class Left(Frame):
    """The socket no longer follows the stream: the client left it, or (with `reason`) the
    server dropped it."""

    type: Literal["stream.left"] = "stream.left"
    stream: StreamName
    reason: Literal["not_allowed"] | SkipJsonSchema[None] = Field(
        default=None,
        description="Why the server dropped it: the user may no longer read it. Absent after"
        " `stream.leave`.",
    )

    @model_serializer(mode="wrap")
    def _absent_not_null(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        frame = handler(self)
        if frame["reason"] is None:
            del frame["reason"]
        return frame


class Heads(Frame):
    """The answer to `ping` on the multiplexed socket: every followed stream's head, so a
    client whose last event of a stream was dropped notices and syncs it."""

    type: Literal["pong"] = "pong"
    heads: dict[str, Head] = Field(description="Each followed stream's name -> its head.")


# One side of a socket -------------------------------------------------------------


class Protocol:
    """The frames one side of a socket may send: a union of `Frame`s discriminated on `type`."""

    def __init__(self, *frames: type[Frame]) -> None:
        self.frames: dict[str, type[Frame]] = {
            frame.model_fields["type"].default: frame for frame in frames
        }
        # Union[] over a tuple: `X | Y` needs the frames written out.
        union: Any = Annotated[Union[frames], Field(discriminator="type")]  # noqa: UP007
        self.adapter: TypeAdapter[Frame] = TypeAdapter(union)

    def speaks(self, frame_type: Any) -> bool:
        """Is `frame_type` (any JSON value) the type of a frame this side may send?"""
        return isinstance(frame_type, str) and frame_type in self.frames

    def parse(self, frame: Any) -> Frame:
        """The frame as its model; else a ProtocolError, in the protocol's own words."""
        # The envelope is checked first, in words of its own: the union would
        # say the same things in pydantic's.
        if not isinstance(frame, dict):
            raise ProtocolError("invalid_frame", "A frame must be a JSON object.")
        client_id = client_id_of(frame)
        frame_type = frame.get("type")
        if not isinstance(frame_type, str):
            detail = "A frame needs a string 'type'."
            raise ProtocolError("invalid_frame", detail, client_id=client_id)
        if frame_type not in self.frames:
            detail = f"Unknown frame type {frame_type[:40]!r}."
            raise ProtocolError("unknown_type", detail, client_id=client_id)
        problem = text_problem(frame)
        if problem is not None:
            raise ProtocolError("invalid_frame", problem, client_id=client_id)
        try:
            return self.adapter.validate_python(frame)
        except ValidationError as error:
            raise _refusal(
                self.frames[frame_type],
                # The union puts the frame's type first in each location.
                [detail | {"loc": detail["loc"][1:]} for detail in error.errors()],
                client_id=client_id,
            ) from None

    def check(self, frame: Any) -> None:
        """Raise ProtocolError unless `frame` is one this side may send (used by tests)."""
        self.parse(frame)


# pydantic's errors in the protocol's words --------------------------------------

_KINDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _where(loc: tuple[int | str, ...]) -> str:
    """`message.body`, `users[2]`: a field's place in the frame, as errors name it."""
    where = ""
    for part in loc:
        if isinstance(part, int):
            where += f"[{part}]"
        else:
            where += f".{part}" if where else part
    return where


def _refusal(
    frame: type[Frame], errors: list[ErrorDetails], *, client_id: str | None
) -> ProtocolError:
    """The one error the frame is told: the first, as the protocol has always reported them.

    An object's unknown keys come before anything wrong inside it, all named
    at once; then its fields in declared order (pydantic's order, which lists
    unknown keys last).
    """
    first = errors[0]
    for depth in range(len(first["loc"])):
        unknown = sorted(
            _where(error["loc"])
            for error in errors
            if error["type"] == "extra_forbidden" and error["loc"][:-1] == first["loc"][:depth]
        )
        if unknown:
            detail = f"Unknown field(s): {', '.join(unknown)}."
            return ProtocolError("invalid_frame", detail, client_id=client_id)
    code, detail = _explain(frame, first)
    return ProtocolError(code, detail, client_id=client_id)


def _explain(frame: type[Frame], error: ErrorDetails) -> tuple[ErrorCode, str]:
    where, kind, context = _where(error["loc"]), error["type"], error.get("ctx", {})
    if kind == "missing":
        return "invalid_frame", f"{where} is required."
    if kind in _KINDS:
        if error["input"] is None:
            return "invalid_frame", f"{where} must not be null."
        return "invalid_frame", f"{where} must be {_KINDS[kind]}."
    if kind == "string_too_long":
        field = frame.model_fields.get(str(error["loc"][0])) if len(error["loc"]) == 1 else None
        code: ErrorCode = "too_long" if field and TOO_LONG in field.metadata else "invalid_frame"
        return code, f"{where} is longer than {context['max_length']} characters."
    if kind == "string_too_short":
        return "invalid_frame", f"{where} must not be empty."
    if kind == "greater_than_equal":
        return "invalid_frame", f"{where} must be at least {context['ge']}."
    if kind == "literal_error":
        return "invalid_frame", f"{where} must be {context['expected']}."
    return "invalid_frame", f"{where} is not valid: {error['msg']}."
