"""docs/protocol.md's frame tables and docs/asyncapi.json, generated from the protocol's models.

Every frame is declared once, as a model in `streams/schemas.py`,
`chat/protocol.py` or `liveblog/protocol.py`; what the docs say of it (fields,
types, limits, the model's docstring and its fields' descriptions) comes from
there. In protocol.md each table sits between `<!-- generated: NAME -->` and
`<!-- end generated -->`, and everything around the tables is written by hand.
`manage.py protocol_docs` writes both files; `--check` names what differs.
"""

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from chat import protocol as chat
from chat import routing as chat_routing
from liveblog import protocol as liveblog
from liveblog import routing as liveblog_routing
from streams import multiplex, schemas
from streams.schemas import ERROR_CODES, TOO_LONG, Frame, PresenceJoin, PresenceLeave, Protocol

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = ROOT / "docs" / "protocol.md"
ASYNCAPI = ROOT / "docs" / "asyncapi.json"


@dataclass(frozen=True)
class Socket:
    """One WebSocket route: what a client may send, and what each audience on it is sent."""

    name: str
    address: str
    title: str
    description: str
    slug: str
    client: Protocol
    # Audience -> the frames it is sent ("" when a socket has one audience).
    servers: dict[str, Protocol]


def _address(routes: list) -> str:
    """An app's one WebSocket route, as AsyncAPI writes it: `ws/chat/<slug:slug>/` ->
    `/ws/chat/{slug}/`."""
    (route,) = routes
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(route.pattern))


CHAT = Socket(
    name="chat",
    address=_address(chat_routing.websocket_urlpatterns),
    title="A chat room",
    description="Signed-in users only. A frame with a `seq` is an event of the room's stream.",
    slug="The room's slug.",
    client=chat.CLIENT,
    servers={"": chat.SERVER},
)
LIVEBLOG = Socket(
    name="liveblog",
    address=_address(liveblog_routing.websocket_urlpatterns),
    title="A liveblog",
    description=(
        "Open to everyone, and it only listens. Editors follow the editors' stream"
        " (drafts and scheduled posts included), everyone else the readers' stream"
        " (published posts only); each has its own seqs, and the same frame types"
        " carry each audience's own shape of a post."
    ),
    slug="The liveblog's slug.",
    client=liveblog.CLIENT,
    servers={"readers": liveblog.READER_SERVER, "editors": liveblog.EDITOR_SERVER},
)
SOCKETS = [CHAT, LIVEBLOG]

AFTER = (
    "Resume: replay every event of the socket's stream after this seq, then `stream.ready`."
    " Without it nothing is replayed. A malformed value refuses the handshake."
)


# Reading the models -------------------------------------------------------------------


def _text(doc: str | None) -> str:
    """A docstring or description on one line."""
    return " ".join((doc or "").split())


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(ref_template="{model}")


def _too_long(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    return field is not None and TOO_LONG in field.metadata


def _kind(prop: dict[str, Any]) -> str:
    """A property's JSON Schema in words: `string of 1–64 characters`, `integer ≥ 0`."""
    if "$ref" in prop:
        return f"`{_def_name(prop['$ref'])}` object"
    if "anyOf" in prop:
        return " or ".join(_kind(option) for option in prop["anyOf"])
    if "enum" in prop:
        return "one of " + ", ".join(f"`{value}`" for value in prop["enum"])
    kind = str(prop.get("type"))
    if kind == "string":
        if prop.get("format") == "date-time":
            return "time (ISO 8601)"
        low, high = prop.get("minLength", 0), prop.get("maxLength")
        if high is not None:
            return (
                f"string of {low}–{high} characters"
                if low
                else f"string, at most {high} characters"
            )
        return "non-empty string" if low else "string"
    if kind == "integer":
        return f"integer ≥ {prop['minimum']}" if "minimum" in prop else "integer"
    if kind == "array":
        if "prefixItems" in prop:  # a tuple
            return "[" + ", ".join(_kind(item) for item in prop["prefixItems"]) + "]"
        return f"list of {_kind(prop['items'])}s"
    return kind


def _def_name(ref: str) -> str:
    return _normalise(ref.rsplit("/", 1)[-1])


def _normalise(name: str) -> str:
    """`PostCreated[ReaderPost]` -> `PostCreated_ReaderPost`: a name JSON pointers and
    code generators take."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")


def _fields(model: type[BaseModel]) -> list[tuple[str, str, str]]:
    """(name, kind, description) of each field but `type`, in declared order."""
    schema = _schema(model)
    rows = []
    for name, prop in schema["properties"].items():
        if name == "type":
            continue
        kind = _kind(prop)
        if name not in schema.get("required", []):
            kind += ", optional"
        if _too_long(model, name):
            kind += "; longer is `too_long`"
        rows.append((name, kind, _text(prop.get("description"))))
    return rows


def _frame_type(model: type[Frame]) -> str:
    return model.model_fields["type"].default


def _shared(model: type[Frame]) -> bool:
    return model.__module__ == schemas.__name__


# Markdown ----------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _field_line(name: str, kind: str, description: str) -> str:
    return f"`{name}` ({kind})" + (f": {description}" if description else "")


def _field_lines(model: type[BaseModel]) -> str:
    return "<br>".join(_field_line(*field) for field in _fields(model)) or "—"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _stream_frames() -> str:
    """Every frame declared in streams/schemas.py, in declared order, by direction."""
    directions: dict[type[Frame], str] = {}
    for socket in SOCKETS:
        for model in socket.client.frames.values():
            directions.setdefault(model, "client → server")
        for server in socket.servers.values():
            for model in server.frames.values():
                directions.setdefault(model, "server → client")
    order = list(vars(schemas))
    shared = sorted((m for m in directions if _shared(m)), key=lambda m: order.index(m.__name__))
    rows = [
        [directions[m], f"`{_frame_type(m)}`", _field_lines(m), _text(m.__doc__)] for m in shared
    ]
    return _table(["Direction", "Frame", "Fields", "Meaning"], rows)


def _multiplex_frames() -> str:
    """The multiplexed socket's own frames, by direction (every other frame is a stream's)."""
    rows = [
        [direction, f"`{frame_type}`", _field_lines(model), _text(model.__doc__)]
        for direction, protocol in (
            ("client → server", multiplex.CLIENT),
            ("server → client", multiplex.SERVER),
        )
        for frame_type, model in protocol.frames.items()
        if model is not schemas.Error and model is not schemas.Ping
    ]
    return _table(["Direction", "Frame", "Fields", "Meaning"], rows)


def _own_frames(protocol: Protocol) -> str:
    rows = [
        [f"`{frame_type}`", _field_lines(model), _text(model.__doc__)]
        for frame_type, model in protocol.frames.items()
        if not _shared(model)
    ]
    return _table(["Frame", "Fields", "Meaning"], rows)


def _audience_frames(servers: dict[str, Protocol]) -> str:
    """One row per frame type; a field that differs between audiences says each one's kind."""
    types = [t for s in servers.values() for t, m in s.frames.items() if not _shared(m)]
    rows = []
    for frame_type in dict.fromkeys(types):
        models = {audience: s.frames[frame_type] for audience, s in servers.items()}
        fields = {audience: _fields(model) for audience, model in models.items()}
        first = next(iter(fields.values()))
        lines = []
        for index, (name, kind, description) in enumerate(first):
            kinds = {audience: each[index][1] for audience, each in fields.items()}
            if len(set(kinds.values())) > 1:
                kind = ", ".join(f"{k} for {audience}" for audience, k in kinds.items())
            lines.append(_field_line(name, kind, description))
        doc = _text(next(iter(models.values())).__doc__)
        rows.append([f"`{frame_type}`", "<br>".join(lines), doc])
    return _table(["Frame", "Fields", "Meaning"], rows)


def _object(model: type[BaseModel], *, beyond: type[BaseModel] | None = None) -> str:
    """A payload object's fields (only those it adds to `beyond`, if given)."""
    skip = set(beyond.model_fields) if beyond else set()
    rows = [
        [f"`{name}`", kind, description]
        for name, kind, description in _fields(model)
        if name not in skip
    ]
    title = f"`{model.__name__}` object: {_text(model.__doc__)}"
    return title + "\n\n" + _table(["Field", "Type", "Meaning"], rows)


def _errors() -> str:
    return _table(["Code", "When"], [[f"`{code}`", when] for code, when in ERROR_CODES.items()])


def sections() -> dict[str, str]:
    """Each generated region of protocol.md, by name."""
    return {
        "stream-frames": _stream_frames(),
        "multiplex-frames": _multiplex_frames(),
        "presence-objects": _object(PresenceJoin) + "\n\n" + _object(PresenceLeave),
        "chat-client": _own_frames(chat.CLIENT),
        "chat-server": _own_frames(chat.SERVER),
        "chat-message": _object(chat.Message),
        "chat-reaction": _object(chat.Reaction),
        "personal-frames": _own_frames(chat.PERSONAL),
        "chat-room-entry": _object(chat.RoomEntry),
        "chat-sidebar-room": _object(chat.SidebarRoom, beyond=chat.RoomEntry),
        "liveblog-server": _audience_frames(LIVEBLOG.servers),
        "liveblog-reader-post": _object(liveblog.ReaderPost),
        "liveblog-editor-post": _object(liveblog.EditorPost, beyond=liveblog.ReaderPost),
        "liveblog-objects": _object(liveblog.GonePost) + "\n\n" + _object(liveblog.LiveblogDetails),
        "errors": _errors(),
    }


REGION = re.compile(
    r"(?P<open><!-- generated: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)"
    r"(?P<close><!-- end generated -->)",
    re.S,
)


def render_markdown(text: str) -> str:
    """`text` (protocol.md) with every generated region filled from the models."""
    generated = sections()
    found = [match["name"] for match in REGION.finditer(text)]
    missing, unknown = set(generated) - set(found), set(found) - set(generated)
    if missing or unknown:
        raise ValueError(
            f"protocol.md's generated regions: missing {sorted(missing)}, unknown {sorted(unknown)}"
        )
    return REGION.sub(lambda m: m["open"] + "\n" + generated[m["name"]] + "\n\n" + m["close"], text)


def regions(text: str) -> dict[str, str]:
    """The text of each generated region of `text`."""
    return {match["name"]: match["body"].strip() for match in REGION.finditer(text)}


# AsyncAPI ------------------------------------------------------------------------------------


class _Names(GenerateJsonSchema):
    def normalize_name(self, name: str) -> str:
        return _normalise(name)


def _every_frame() -> list[type[Frame]]:
    frames: dict[type[Frame], None] = {}
    for socket in SOCKETS:
        for protocol in (socket.client, *socket.servers.values()):
            frames.update(dict.fromkeys(protocol.frames.values()))
    return list(frames)


def _message(model: type[Frame]) -> dict[str, Any]:
    doc = _text(model.__doc__)
    return {
        "name": _frame_type(model),
        "title": _frame_type(model),
        "summary": doc.split(". ")[0].rstrip(".") + ".",
        "description": doc,
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{_normalise(model.__name__)}"},
    }


def _channel(socket: Socket) -> dict[str, Any]:
    models = dict.fromkeys(
        model
        for protocol in (socket.client, *socket.servers.values())
        for model in protocol.frames.values()
    )
    return {
        "address": socket.address,
        "title": socket.title,
        "description": socket.description,
        "parameters": {"slug": {"description": socket.slug}},
        "messages": {
            _normalise(m.__name__): {"$ref": f"#/components/messages/{_normalise(m.__name__)}"}
            for m in models
        },
        "bindings": {
            "ws": {
                "method": "GET",
                "query": {
                    "type": "object",
                    "properties": {
                        "after": {"type": "integer", "minimum": 0, "description": AFTER}
                    },
                    "additionalProperties": False,
                },
                "bindingVersion": "0.1.0",
            }
        },
    }


def _operations(socket: Socket) -> dict[str, Any]:
    def refs(protocol: Protocol) -> list[dict[str, str]]:
        return [
            {"$ref": f"#/channels/{socket.name}/messages/{_normalise(m.__name__)}"}
            for m in protocol.frames.values()
        ]

    channel = {"$ref": f"#/channels/{socket.name}"}
    operations = {
        f"{socket.name}Receive": {
            "action": "receive",
            "channel": channel,
            "summary": "The frames a client may send.",
            "messages": refs(socket.client),
        }
    }
    for audience, protocol in socket.servers.items():
        summary = "The frames the server sends" + (f" to {audience}." if audience else ".")
        operations[f"{socket.name}Send{audience.title()}"] = {
            "action": "send",
            "channel": channel,
            "summary": summary,
            "messages": refs(protocol),
        }
    return operations


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document: each socket a channel, each frame a message and a schema."""
    frames = _every_frame()
    _, definitions = models_json_schema(
        [(model, "validation") for model in frames],
        ref_template="#/components/schemas/{model}",
        schema_generator=_Names,
    )
    schemas_ = definitions["$defs"]
    for schema in schemas_.values():
        _one_line_descriptions(schema)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    operations: dict[str, Any] = {}
    for socket in SOCKETS:
        operations |= _operations(socket)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"{project['name']}: the WebSocket protocol",
            "version": project["version"],
            "description": (
                "JSON text frames, each an object with a dotted `type`, described from the"
                " server's side: it receives what clients send and sends the rest. Generated"
                " from the models in streams/schemas.py, chat/protocol.py and"
                " liveblog/protocol.py by `manage.py protocol_docs`; the handshake and resume"
                " rules are in docs/protocol.md."
            ),
        },
        "defaultContentType": "application/json",
        "channels": {socket.name: _channel(socket) for socket in SOCKETS},
        "operations": operations,
        "components": {
            "messages": {_normalise(m.__name__): _message(m) for m in frames},
            "schemas": schemas_,
        },
    }


def _one_line_descriptions(schema: Any) -> None:
    """Docstrings wrapped in the source read as one line in the document."""
    if isinstance(schema, dict):
        if isinstance(schema.get("description"), str):
            schema["description"] = _text(schema["description"])
        for value in schema.values():
            _one_line_descriptions(value)
    elif isinstance(schema, list):
        for value in schema:
            _one_line_descriptions(value)


def render_asyncapi() -> str:
    return json.dumps(asyncapi(), indent=2, ensure_ascii=False) + "\n"


# Both files ------------------------------------------------------------------------------------


def generate() -> dict[Path, str]:
    """What protocol.md (its hand-written text kept) and asyncapi.json should say."""
    return {MARKDOWN: render_markdown(MARKDOWN.read_text()), ASYNCAPI: render_asyncapi()}


def stale(wanted: dict[Path, str]) -> list[str]:
    """Each file on disk that is not `wanted`, with the tables or sections that differ."""
    found = []
    for path, text in wanted.items():
        name = str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        if not path.exists():
            found.append(f"{name} (missing)")
            continue
        current = path.read_text()
        if current == text:
            continue
        if path.suffix == ".md":
            have = regions(current)
            parts = [region for region, body in regions(text).items() if have.get(region) != body]
        else:
            parts = _json_differences(current, text)
        found.append(f"{name} ({', '.join(parts)})" if parts else name)
    return found


def _json_differences(current: str, wanted: str) -> list[str]:
    """The JSON paths, two keys deep (`channels.chat`, `components.schemas`), that differ."""
    try:
        have = json.loads(current)
    except ValueError:
        return ["not JSON"]
    want = json.loads(wanted)
    parts = []
    for section in dict.fromkeys([*want, *have]):
        mine, theirs = have.get(section), want.get(section)
        if mine == theirs:
            continue
        if isinstance(mine, dict) and isinstance(theirs, dict):
            keys = dict.fromkeys([*theirs, *mine])
            parts += [f"{section}.{key}" for key in keys if mine.get(key) != theirs.get(key)]
        else:
            parts.append(section)
    return parts or ["formatting"]
