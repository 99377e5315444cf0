"""Declared WebSocket protocols: closed schemas for every frame, in and out.

A frame is a JSON object with a dotted `type`. Each type declares its fields;
a missing field, a wrong type or an unknown key is an error, never a default.
Consumers validate inbound frames with `Protocol.parse`, and the tests check
every outbound frame with `Protocol.check`.
"""

from dataclasses import dataclass, field
from typing import Any


class ProtocolError(Exception):
    """A frame that breaks the protocol: answered with an error frame."""

    def __init__(self, code: str, detail: str, *, client_id: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.client_id = client_id


@dataclass(frozen=True)
class Field:
    kind: type | tuple[type, ...]
    required: bool = True
    nullable: bool = False
    max_length: int | None = None
    min_length: int = 0
    min_value: int | None = None
    # For kind=dict: the nested object's own closed schema.
    fields: dict[str, "Field"] | None = None
    # For kind=list: the kind of each item.
    items: type | None = None
    # The error code for a value over max_length.
    too_long_code: str = "invalid_frame"


@dataclass(frozen=True)
class Frame:
    type: str
    fields: dict[str, Field] = field(default_factory=dict)

    def validate(self, frame: dict[str, Any]) -> dict[str, Any]:
        return _check_object(frame, self.fields, where="", skip={"type"})


def _describe(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", bool: "true or false", dict: "an object"}
    names |= {list: "a list", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _check_value(value: Any, spec: Field, where: str) -> Any:
    if value is None:
        if spec.nullable:
            return None
        raise ProtocolError("invalid_frame", f"{where} must not be null.")
    kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
    # bool is an int in Python, never in the protocol.
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise ProtocolError("invalid_frame", f"{where} must be {_describe(spec.kind)}.")
    if isinstance(value, str | list):
        if spec.max_length is not None and len(value) > spec.max_length:
            raise ProtocolError(
                spec.too_long_code, f"{where} is longer than {spec.max_length} characters."
            )
        if len(value) < spec.min_length:
            raise ProtocolError("invalid_frame", f"{where} must not be empty.")
    if spec.min_value is not None and isinstance(value, int) and value < spec.min_value:
        raise ProtocolError("invalid_frame", f"{where} must be at least {spec.min_value}.")
    if isinstance(value, dict) and spec.fields is not None:
        return _check_object(value, spec.fields, where=f"{where}.")
    if isinstance(value, list) and spec.items is not None:
        for index, item in enumerate(value):
            _check_value(item, Field(spec.items), f"{where}[{index}]")
    return value


def _check_object(
    obj: dict[str, Any],
    fields: dict[str, Field],
    *,
    where: str,
    skip: frozenset | set = frozenset(),
) -> dict[str, Any]:
    unknown = sorted(set(obj) - set(fields) - set(skip))
    if unknown:
        raise ProtocolError(
            "invalid_frame", f"Unknown field(s): {', '.join(where + k for k in unknown)}."
        )
    cleaned = {}
    for name, spec in fields.items():
        if name not in obj:
            if spec.required:
                raise ProtocolError("invalid_frame", f"{where}{name} is required.")
            continue
        cleaned[name] = _check_value(obj[name], spec, f"{where}{name}")
    return cleaned


class Protocol:
    """The set of frame types one side of a socket may send."""

    def __init__(self, *frames: Frame) -> None:
        self.frames = {frame.type: frame for frame in frames}

    def parse(self, frame: Any) -> tuple[str, dict[str, Any]]:
        """Validate an inbound frame; return its type and its checked fields."""
        if not isinstance(frame, dict):
            raise ProtocolError("invalid_frame", "A frame must be a JSON object.")
        frame_type = frame.get("type")
        if not isinstance(frame_type, str):
            raise ProtocolError("invalid_frame", "A frame needs a string 'type'.")
        spec = self.frames.get(frame_type)
        if spec is None:
            raise ProtocolError("unknown_type", f"Unknown frame type {frame_type[:40]!r}.")
        try:
            return frame_type, spec.validate(frame)
        except ProtocolError as error:
            client_id = frame.get("client_id")
            error.client_id = client_id if isinstance(client_id, str) else None
            raise

    def check(self, frame: Any) -> None:
        """Raise ProtocolError unless `frame` is one this side may send (used by tests)."""
        self.parse(frame)


# Frames every stream socket speaks, whatever the stream.
PING = Frame("ping")
SYNC = Frame("stream.sync", {"after": Field(int, min_value=0)})
PONG = Frame("pong", {"seq": Field(int, min_value=0)})
READY = Frame("stream.ready", {"seq": Field(int, min_value=0)})
ERROR = Frame(
    "error",
    {
        "code": Field(str),
        "detail": Field(str),
        "client_id": Field(str, required=False),
    },
)
