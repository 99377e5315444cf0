"""docs/protocol.md's frame tables and docs/asyncapi.json: what the protocol's models generate."""

import json
import re

import pytest
from django.core.management import CommandError, call_command

from tests.support.harness import REPO
from website import protocol_docs

ASYNCAPI = json.loads((REPO / "docs" / "asyncapi.json").read_text())
# What AsyncAPI 3.0 allows as a key of `components` (and so as the last part of a $ref to one).
COMPONENT_KEY = re.compile(r"^[a-zA-Z0-9.\-_]+$")


def test_the_committed_docs_are_what_the_models_generate():
    assert protocol_docs.stale(protocol_docs.generate()) == [], "run `make docs`"


@pytest.fixture
def drifted(tmp_path, monkeypatch):
    """Copies of both files in `tmp_path`, each a little off, standing in for the real ones."""
    markdown = (REPO / "docs" / "protocol.md").read_text()
    markdown = markdown.replace("| `chat.delete` |", "| `chat.remove` |")
    monkeypatch.setattr(protocol_docs, "MARKDOWN", tmp_path / "protocol.md")
    monkeypatch.setattr(protocol_docs, "ASYNCAPI", tmp_path / "asyncapi.json")
    protocol_docs.MARKDOWN.write_text(markdown)
    document = json.loads(protocol_docs.render_asyncapi())
    document["channels"]["chat"]["address"] = "/ws/talk/{slug}/"
    protocol_docs.ASYNCAPI.write_text(json.dumps(document))
    return tmp_path


def test_the_check_fails_naming_each_stale_file_and_part(drifted):
    with pytest.raises(CommandError) as stale:
        call_command("protocol_docs", "--check")
    assert "protocol.md (chat-client)" in str(stale.value)
    assert "asyncapi.json (channels.chat)" in str(stale.value)


def test_generating_rewrites_only_the_tables_and_keeps_the_prose(drifted):
    call_command("protocol_docs")
    assert protocol_docs.stale(protocol_docs.generate()) == []
    assert (drifted / "protocol.md").read_text() == (REPO / "docs" / "protocol.md").read_text()


def test_a_missing_table_marker_is_an_error(tmp_path, monkeypatch):
    markdown = (REPO / "docs" / "protocol.md").read_text()
    monkeypatch.setattr(protocol_docs, "MARKDOWN", tmp_path / "protocol.md")
    protocol_docs.MARKDOWN.write_text(markdown.replace("<!-- generated: errors -->", ""))
    with pytest.raises(CommandError, match="missing \\['errors'\\]"):
        call_command("protocol_docs", "--check")


def refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(pointer: str):
    assert pointer.startswith("#/"), pointer
    node = ASYNCAPI
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_the_asyncapi_document_has_the_shape_of_asyncapi_3():
    assert ASYNCAPI["asyncapi"] == "3.0.0"
    assert isinstance(ASYNCAPI["info"]["title"], str) and isinstance(
        ASYNCAPI["info"]["version"], str
    )
    assert set(ASYNCAPI["channels"]) == {"chat", "liveblog"}
    assert {"messages", "schemas"} <= set(ASYNCAPI["components"])
    for kind in ("messages", "schemas"):
        assert all(COMPONENT_KEY.match(key) for key in ASYNCAPI["components"][kind])
    for pointer in refs(ASYNCAPI):
        resolve(pointer)  # every $ref points at something


def test_each_channel_is_a_socket_route_with_its_resume_parameter():
    for name, channel in ASYNCAPI["channels"].items():
        assert channel["address"] == f"/ws/{name}/{{slug}}/"
        assert set(channel["parameters"]) == {"slug"}
        after = channel["bindings"]["ws"]["query"]["properties"]["after"]
        assert (after["type"], after["minimum"]) == ("integer", 0)
        for message in channel["messages"].values():
            assert "payload" in resolve(message["$ref"])


def test_each_operation_sends_or_receives_messages_of_its_own_channel():
    actions = {}
    for operation in ASYNCAPI["operations"].values():
        channel = operation["channel"]["$ref"]
        assert operation["action"] in {"send", "receive"}
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/")
        actions.setdefault(channel, []).append(operation["action"])
    assert actions == {
        "#/channels/chat": ["receive", "send"],
        # The liveblog's two audiences: one set of messages sent to each.
        "#/channels/liveblog": ["receive", "send", "send"],
    }


def test_each_message_is_a_frame_whose_schema_is_closed_and_requires_its_type():
    for message in ASYNCAPI["components"]["messages"].values():
        schema = resolve(message["payload"]["$ref"])
        assert schema["additionalProperties"] is False
        assert schema["required"][0] == "type"
        assert schema["properties"]["type"]["const"] == message["name"]
