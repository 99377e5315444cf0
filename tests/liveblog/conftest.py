"""Liveblog fixtures: editors, liveblogs, and sockets on either audience's stream."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import Group

from liveblog import services
from liveblog.models import EDITORS_GROUP
from liveblog.protocol import EDITOR_SERVER, READER_SERVER
from tests.sockets import socket_opener


@pytest.fixture
def make_editor(make_user) -> Callable:
    """`make_editor(username=...)`: a user in the liveblog-editors group."""

    def make(**kwargs):
        user = make_user(**kwargs)
        # get_or_create: a transactional test flushes what the migration created.
        user.groups.add(Group.objects.get_or_create(name=EDITORS_GROUP)[0])
        return user

    return make


@pytest.fixture
def editor(make_editor):
    return make_editor(username="ed")


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
        return EDITOR_SERVER if services.is_editor(user) else READER_SERVER

    open_socket = socket_opener(login_cookie, protocol_for, {"presence"})

    async def open_liveblog(user, liveblog, **kwargs):
        slug = liveblog if isinstance(liveblog, str) else liveblog.slug
        return await open_socket(user, f"/ws/liveblog/{slug}/", **kwargs)

    return open_liveblog
