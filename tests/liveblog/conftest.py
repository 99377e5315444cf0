"""Liveblog fixtures: editors, liveblogs, and sockets on either audience's stream."""

from collections.abc import Callable

import pytest

from liveblog import services
from liveblog.protocol import EDITOR_SERVER, READER_SERVER
from liveblog.selectors import user_is_editor
from tests.support.sockets import socket_opener


@pytest.fixture
def make_liveblog(db, editor) -> Callable:
    counter = iter(range(1, 1000))

    def make(title: str | None = None, **kwargs):
        return services.liveblog_create(
            title=title or f"Live {next(counter)}", by=kwargs.pop("by", editor), **kwargs
        )

    return make


@pytest.fixture
def liveblog(make_liveblog):
    return make_liveblog("Launch day")


@pytest.fixture
def watch(login_cookie) -> Callable:
    """`await watch(user_or_None, liveblog, after=None)` -> a socket past `stream.ready`.

    Frames are checked against the editors' protocol for editors, else the readers'.
    """

    def protocol_for(user):
        return EDITOR_SERVER if user_is_editor(user) else READER_SERVER

    open_socket = socket_opener(login_cookie, protocol_for, {"presence"})

    async def open_liveblog(user, liveblog, **kwargs):
        slug = liveblog if isinstance(liveblog, str) else liveblog.slug
        return await open_socket(user, f"/ws/liveblog/{slug}/", **kwargs)

    return open_liveblog
