"""The liveblog socket's frames, each declared once, for each of its two audiences.

The socket is read-only: editors write over HTTP (forms with CSRF tokens, so
the same views serve the page without JavaScript). A client may send only the
frames every stream speaks; anything else is answered `not_allowed`.

Readers and editors receive the same frame types, but a post in them is the
audience's own shape: `ReaderPost`, or `EditorPost` with four more fields. A
post frame is a generic model over that shape (`PostCreated[ReaderPost]`),
and each audience's side of the socket is its own closed union, so a readers'
frame carrying an editor's field is an error. `post_as` gives a post as one
audience sees it: in frames, on the page and from the history endpoint.
"""

from typing import Any, Generic, Literal, NamedTuple, TypeVar

from pydantic import Field

from people.selectors import person_card
from streams.schemas import (
    AvatarColour,
    Error,
    Frame,
    Ping,
    Pong,
    PresenceCount,
    Protocol,
    Ready,
    Schema,
    Seq,
    Sync,
    Timestamp,
)

from . import models
from .models import EDITORS, READERS

MAX_BODY = 20_000

CLIENT = Protocol(Ping, Sync)


# What the server sends -------------------------------------------------------------------


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


class ReaderPost(Schema):
    """A post as readers see it."""

    id: int = Field(description="The post's id.")
    author: str = Field(description="The author's username; empty if the account is gone.")
    author_name: str = Field(description="Their display name, or username; empty if gone.")
    author_colour: AvatarColour
    html: str = Field(description="The post, rendered from markdown on the server and sanitised.")
    summary: str = Field(
        description="Its first heading, or else its first sentence, as text on one line,"
        f" in at most {models.SUMMARY_LENGTH} characters."
    )
    published_at: Timestamp | None = Field(
        description="When it first went out; kept if it is unpublished and published again."
    )
    edited_at: Timestamp | None = Field(description="When it was last edited after going out.")
    pinned: bool = Field(description="Shown above the timeline; one post at a time.")
    key_event: bool = Field(description="Listed in the key-events box.")

    @classmethod
    def of(cls, post: models.Post) -> "ReaderPost":
        # Validated on purpose (see Schema): a wrong value fails here.
        return cls(**cls._seen(post))

    @staticmethod
    def _seen(post: models.Post) -> dict[str, Any]:
        card = person_card(user=post.author) if post.author else None
        return {
            "id": post.pk,
            "author": card.username if card else "",
            "author_name": card.name if card else "",
            "author_colour": card.colour if card else 0,
            "html": post.html,
            "summary": post.summary,
            "published_at": _iso(post.published_at),
            "edited_at": _iso(post.edited_at),
            "pinned": post.pinned,
            "key_event": post.key_event,
        }


class EditorPost(ReaderPost):
    """A post as editors see it: what readers see, and four more fields."""

    body: str = Field(description="The markdown source.")
    state: Literal["draft", "scheduled", "published"] = Field(
        description="Readers see only published posts."
    )
    publish_at: Timestamp | None = Field(description="When a scheduled post goes out.")
    created_at: Timestamp = Field(description="When it was first saved.")

    @classmethod
    def of(cls, post: models.Post) -> "EditorPost":
        return cls(
            **ReaderPost._seen(post)
            | {
                "body": post.body,
                "state": post.state,
                "publish_at": _iso(post.publish_at),
                "created_at": post.created_at.isoformat(),
            }
        )


class GonePost(Schema):
    """A post the audience can no longer see: its id only."""

    id: int = Field(description="The post's id.")


class LiveblogDetails(Schema):
    """What a liveblog says of itself."""

    title: str = Field(description="Its headline.")
    description: str = Field(description="A line under the headline; may be empty.")
    ended_at: Timestamp | None = Field(description="When it ended; null while it is live.")

    @classmethod
    def of(cls, liveblog: models.Liveblog) -> "LiveblogDetails":
        return cls(
            title=liveblog.title,
            description=liveblog.description,
            ended_at=_iso(liveblog.ended_at),
        )


P = TypeVar("P", bound=ReaderPost)


class PostCreated(Frame, Generic[P]):
    """A post this audience could not see before and can now: new, or (for readers) just
    published."""

    type: Literal["liveblog.post_created"] = "liveblog.post_created"
    seq: Seq
    post: P


class PostUpdated(Frame, Generic[P]):
    """A post this audience could see before and still can: edited, pinned or unpinned, marked
    or unmarked as a key event, and for editors published, unpublished or scheduled."""

    type: Literal["liveblog.post_updated"] = "liveblog.post_updated"
    seq: Seq
    post: P


class PostDeleted(Frame):
    """A post this audience can no longer see: deleted, or (for readers) unpublished. Its
    earlier frames are rewritten into this one, so a replay never brings its text back."""

    type: Literal["liveblog.post_deleted"] = "liveblog.post_deleted"
    seq: Seq
    post: GonePost


class LiveblogUpdated(Frame):
    """The liveblog was retitled, described, ended (`ended_at` set) or reopened. Both audiences."""

    type: Literal["liveblog.updated"] = "liveblog.updated"
    seq: Seq
    liveblog: LiveblogDetails


class Seen(NamedTuple):
    """What one audience is sent of a post it can see: the post, and the frames it comes in."""

    post: type[ReaderPost]
    created: type[PostCreated]
    updated: type[PostUpdated]


SEEN = {
    READERS: Seen(ReaderPost, PostCreated[ReaderPost], PostUpdated[ReaderPost]),
    EDITORS: Seen(EditorPost, PostCreated[EditorPost], PostUpdated[EditorPost]),
}


def post_as(post: models.Post, audience: str) -> ReaderPost:
    """A post as `audience` sees it."""
    return SEEN[audience].post.of(post)


def _server(audience: str) -> Protocol:
    seen = SEEN[audience]
    return Protocol(
        seen.created, seen.updated, PostDeleted, LiveblogUpdated, Pong, Ready, PresenceCount, Error
    )


READER_SERVER = _server(READERS)
EDITOR_SERVER = _server(EDITORS)
