"""The liveblog's frames: exactly what each audience is sent, and what a client may send."""

import json

import pytest

from liveblog import services
from liveblog.models import EDITORS, READERS, LiveblogEvent
from liveblog.protocol import CLIENT, EDITOR_SERVER, READER_SERVER
from people.services import profile_update
from streams.broadcast import encode
from streams.schemas import ProtocolError

pytestmark = pytest.mark.django_db


def frames(liveblog, audience: str) -> list[str]:
    return list(
        LiveblogEvent.objects.filter(liveblog=liveblog, audience=audience)
        .order_by("seq")
        .values_list("frame", flat=True)
    )


def test_a_post_frame_carries_exactly_what_each_audience_sees_in_order(liveblog, editor):
    profile_update(user=editor, display_name="Ed Murrow")
    post = services.post_create(liveblog=liveblog, by=editor, body="Go **now**", key_event=True)
    seen = {
        "id": post.pk,
        "author": "ed",
        "author_name": "Ed Murrow",
        "author_colour": editor.pk % 12,
        "html": "<p>Go <strong>now</strong></p>",
        "summary": "Go now",
        "published_at": post.published_at.isoformat(),
        "edited_at": None,
        "pinned": False,
        "key_event": True,
    }
    editors_see = seen | {
        "body": "Go **now**",
        "state": "published",
        "publish_at": None,
        "created_at": post.created_at.isoformat(),
    }
    assert frames(liveblog, READERS) == [
        encode({"type": "liveblog.post_created", "seq": 1, "post": seen})
    ]
    assert frames(liveblog, EDITORS) == [
        encode({"type": "liveblog.post_created", "seq": 1, "post": editors_see})
    ]
    READER_SERVER.check(json.loads(frames(liveblog, READERS)[0]))
    EDITOR_SERVER.check(json.loads(frames(liveblog, EDITORS)[0]))


def test_the_readers_schema_refuses_an_editors_post():
    with pytest.raises(ProtocolError):
        READER_SERVER.check(
            {
                "type": "liveblog.post_created",
                "seq": 1,
                "post": {
                    "id": 1,
                    "author": "ed",
                    "html": "",
                    "summary": "",
                    "published_at": None,
                    "edited_at": None,
                    "pinned": False,
                    "key_event": False,
                    "body": "a draft",
                },
            }
        )


def test_a_deleted_post_and_a_retitled_liveblog_are_told_exactly(liveblog, editor):
    post = services.post_create(liveblog=liveblog, by=editor, body="gone soon")
    services.post_delete(liveblog=liveblog, post_id=post.pk, by=editor)
    services.liveblog_update(liveblog=liveblog, by=editor, title="Launch night", ended=True)
    liveblog.refresh_from_db()
    for audience in (READERS, EDITORS):
        first, deleted, retitled = frames(liveblog, audience)
        # The frame that created the post was rewritten into the frame a delete sends.
        assert first == encode({"type": "liveblog.post_deleted", "seq": 1, "post": {"id": post.pk}})
        assert deleted == encode(
            {"type": "liveblog.post_deleted", "seq": 2, "post": {"id": post.pk}}
        )
        assert retitled == encode(
            {
                "type": "liveblog.updated",
                "seq": 3,
                "liveblog": {
                    "title": "Launch night",
                    "description": "",
                    "ended_at": liveblog.ended_at.isoformat(),
                },
            }
        )


@pytest.mark.parametrize(
    ("frame", "code", "detail"),
    [
        ({"type": "ping", "extra": 1}, "invalid_frame", "Unknown field(s): extra."),
        ({"type": "stream.sync", "after": True}, "invalid_frame", "after must be an integer."),
        ({"type": "chat.send", "body": "x"}, "unknown_type", "Unknown frame type 'chat.send'."),
    ],
)
def test_a_client_may_send_only_the_frames_every_stream_speaks(frame, code, detail):
    with pytest.raises(ProtocolError) as refused:
        CLIENT.parse(frame)
    assert (refused.value.code, refused.value.detail) == (code, detail)
