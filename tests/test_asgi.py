"""The WebSocket stack in project.asgi: origin check and authentication before any consumer."""

import pytest
from channels.auth import AuthMiddlewareStack
from channels.testing import WebsocketCommunicator

from chat.services import room_create
from project.asgi import application
from streams.sessions import SocketSessionMiddleware
from tests.support.harness import websocket_headers

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def room(user):
    return room_create(name="Origins", created_by=user)


@pytest.fixture
def cookie(user, login_cookie):
    return login_cookie(user)


async def handshake(path: str, headers: list[tuple[bytes, bytes]], **scope) -> bool:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    # What a server adds to the scope: the peer's address, the handshake's scheme.
    communicator.scope.update(scope)
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


@pytest.mark.parametrize(
    "origin", ["http://127.0.0.1", "http://localhost:8000", "http://testserver"]
)
async def test_a_signed_in_handshake_from_an_allowed_origin_is_accepted(room, cookie, origin):
    headers = websocket_headers(origin=origin, cookie=cookie)

    assert await handshake(f"/ws/chat/{room.slug}/", headers)


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1.evil.example", "null"])
async def test_the_same_handshake_from_a_foreign_origin_is_refused(room, cookie, origin):
    headers = websocket_headers(origin=origin, cookie=cookie)

    assert not await handshake(f"/ws/chat/{room.slug}/", headers)


async def test_a_handshake_without_an_origin_header_is_refused(room, cookie):
    headers = [(b"cookie", cookie.encode()), (b"host", b"testserver")]

    assert not await handshake(f"/ws/chat/{room.slug}/", headers)


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://127.0.0.1:9999", "127.0.0.1:8000"),  # another service on an allowed host
        ("http://127.0.0.1:8000", "127.0.0.1"),
        ("https://testserver:8443", "testserver"),
        ("http://testserver", None),
    ],
)
async def test_an_allowed_host_on_another_port_is_refused(room, cookie, origin, host):
    headers = websocket_headers(origin=origin, cookie=cookie, host=host or "")
    if host is None:
        headers = [header for header in headers if header[0] != b"host"]

    assert not await handshake(f"/ws/chat/{room.slug}/", headers)


@pytest.fixture
def behind_nginx(settings):
    """The production settings' view of the proxy in front, which ends TLS."""
    settings.TRUSTED_PROXIES = ["172.28.0.10"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return {"client": ["172.28.0.10", 40000], "scheme": "ws"}


def forwarded(headers, proto: str):
    return [*headers, (b"x-forwarded-proto", proto.encode()), (b"x-forwarded-for", b"1.2.3.4")]


async def test_over_https_through_the_proxy_only_the_https_origin_is_the_site(
    room, cookie, behind_nginx
):
    path = f"/ws/chat/{room.slug}/"
    https = websocket_headers(origin="https://testserver", cookie=cookie)
    http = websocket_headers(origin="http://testserver", cookie=cookie)

    assert await handshake(path, forwarded(https, "https"), **behind_nginx)
    assert not await handshake(path, forwarded(http, "https"), **behind_nginx)


async def test_over_plain_http_through_the_proxy_the_https_origin_is_refused(
    room, cookie, behind_nginx
):
    headers = websocket_headers(origin="https://testserver", cookie=cookie)

    assert not await handshake(f"/ws/chat/{room.slug}/", forwarded(headers, "http"), **behind_nginx)


async def test_a_forwarded_scheme_from_anyone_but_the_proxy_is_not_believed(
    room, cookie, behind_nginx
):
    path = f"/ws/chat/{room.slug}/"
    stranger = {**behind_nginx, "client": ["203.0.113.9", 40000]}
    https = websocket_headers(origin="https://testserver", cookie=cookie)
    http = websocket_headers(origin="http://testserver", cookie=cookie)

    assert not await handshake(path, forwarded(https, "https"), **stranger)
    assert await handshake(path, forwarded(http, "https"), **stranger)


async def test_a_handshake_made_over_tls_is_the_https_site(room, cookie):
    path = f"/ws/chat/{room.slug}/"
    https = websocket_headers(origin="https://testserver", cookie=cookie)
    http = websocket_headers(origin="http://testserver", cookie=cookie)

    assert await handshake(path, https, scheme="wss")
    assert not await handshake(path, http, scheme="wss")
    assert not await handshake(path, https, scheme="ws")


async def test_a_trusted_origin_may_open_sockets_to_the_site(room, cookie, settings):
    # A front end served from another port of an allowed host, trusted by name.
    settings.CSRF_TRUSTED_ORIGINS = ["http://localhost:3000"]
    headers = websocket_headers(origin="http://localhost:3000", cookie=cookie, host="testserver")

    assert await handshake(f"/ws/chat/{room.slug}/", headers)


async def test_a_session_cookie_that_names_no_session_is_anonymous_and_told_to_sign_in(room):
    headers = websocket_headers(origin="http://testserver", cookie="sessionid=no-such-session")
    communicator = WebsocketCommunicator(application, f"/ws/chat/{room.slug}/", headers=headers)

    assert (await communicator.connect())[0]
    assert await communicator.receive_output() == {"type": "websocket.close", "code": 4401}


class Untouchable:
    def __getattr__(self, name):
        raise AssertionError(f"the session's {name} was read to send a frame")


async def test_behind_the_socket_session_no_frame_sent_reads_the_session(user, cookie):
    """The signed-in user is found as before; frames then go out without a look at the session."""
    handed, sent = {}, []

    async def consumer(scope, receive, send):
        handed["user_pk"] = scope["user"].pk
        scope["session"]._wrapped = Untouchable()
        await send({"type": "websocket.send", "text": "a frame"})

    async def receive():
        return {"type": "websocket.connect"}

    async def server_send(message):
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws/", "headers": [(b"cookie", cookie.encode())]}

    # channels' session middleware alone reads the session for every message sent.
    with pytest.raises(AssertionError, match="was read to send a frame"):
        await AuthMiddlewareStack(consumer)(scope, receive, server_send)

    await SocketSessionMiddleware(AuthMiddlewareStack(consumer))(scope, receive, server_send)
    assert handed["user_pk"] == user.pk
    assert sent == [{"type": "websocket.send", "text": "a frame"}]
