"""The liveblog socket's frames. Documented in docs/protocol.md.

The socket is read-only: editors write over HTTP (forms with CSRF tokens, so
the same views serve the page without JavaScript). A client may send only the
frames every stream speaks; anything else is answered `not_allowed`.
"""

from typing import Any

from streams.schemas import ERROR, PING, PONG, READY, SYNC, Field, Frame, Protocol

from .models import EDITORS, Liveblog, Post

MAX_BODY = 20_000

CLIENT = Protocol(SYNC, PING)

# What the server sends.
READER_POST = {
    "id": Field(int),
    "author": Field(str),
    "html": Field(str),
    "summary": Field(str),
    "published_at": Field(str, nullable=True),
    "edited_at": Field(str, nullable=True),
    "pinned": Field(bool),
    "key_event": Field(bool),
}
EDITOR_POST = READER_POST | {
    "body": Field(str),
    "state": Field(str),
    "publish_at": Field(str, nullable=True),
    "created_at": Field(str),
}
GONE_POST = {"id": Field(int)}
LIVEBLOG_FIELDS = {
    "title": Field(str),
    "description": Field(str),
    "ended_at": Field(str, nullable=True),
}


def _post_event(post_fields: dict[str, Field]) -> dict[str, Field]:
    return {"seq": Field(int, min_value=1), "post": Field(dict, fields=post_fields)}


def _server(post_fields: dict[str, Field]) -> Protocol:
    return Protocol(
        Frame("liveblog.post_created", _post_event(post_fields)),
        Frame("liveblog.post_updated", _post_event(post_fields)),
        Frame("liveblog.post_deleted", _post_event(GONE_POST)),
        Frame(
            "liveblog.updated",
            {"seq": Field(int, min_value=1), "liveblog": Field(dict, fields=LIVEBLOG_FIELDS)},
        ),
        Frame("presence", {"count": Field(int)}),
        READY,
        PONG,
        ERROR,
    )


READER_SERVER = _server(READER_POST)
EDITOR_SERVER = _server(EDITOR_POST)


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def post_data(post: Post, audience: str) -> dict[str, Any]:
    """A post as one audience sees it in frames, the page and the history endpoint."""
    data = {
        "id": post.pk,
        "author": post.author.get_username() if post.author else "",
        "html": post.html,
        "summary": post.summary,
        "published_at": _iso(post.published_at),
        "edited_at": _iso(post.edited_at),
        "pinned": post.pinned,
        "key_event": post.key_event,
    }
    if audience == EDITORS:
        data |= {
            "body": post.body,
            "state": post.state,
            "publish_at": _iso(post.publish_at),
            "created_at": _iso(post.created_at),
        }
    return data


def liveblog_data(liveblog: Liveblog) -> dict[str, Any]:
    return {
        "title": liveblog.title,
        "description": liveblog.description,
        "ended_at": _iso(liveblog.ended_at),
    }
