"""The daphne launcher (project/daphne.py): its write path keeps every byte, in order,
a message is framed as autobahn frames it, and a frame costs no formatting for a
debug log that logs nothing.

Writes go straight to the socket while nothing is queued, and queue behind
whatever the kernel would not take. A reader too slow for what it is sent is
where the two paths meet: these tests make one and check what it reads.
"""

import json
import socket

import pytest
import txaio
from autobahn.exception import Disconnected, PayloadExceededError
from autobahn.twisted import websocket
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket import protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from websockets.sync.client import connect

from chat.models import Room, RoomEvent
from chat.services import room_create
from project.daphne import LeanSendProtocol, skip_debug_formatting
from streams.broadcast import encode

pytestmark = pytest.mark.django_db(transaction=True)

# 9.6 MB: more than the kernel buffers for one connection here (a 4 MiB send buffer
# at most, tcp_wmem), so the server must queue part of the replay and write it later.
EVENTS, PADDING = 160, 60_000


def _padding(seq: int) -> str:
    """60,000 characters that say which event they belong to."""
    return f"{seq:06d}" * (PADDING // 6)


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    chunks, left = [], count
    while left:
        chunk = sock.recv(min(left, 1 << 16))
        if not chunk:
            raise ConnectionError("closed by the server")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class SlowReader:
    """A WebSocket client on a plain socket with a small receive buffer, read only on demand."""

    def __init__(self, server, path: str, cookie: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(20)
        self.sock.connect(("127.0.0.1", server.port))
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {server.origin}\r\nCookie: {cookie}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += _read_exactly(self.sock, 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def frame(self) -> dict:
        """The next text frame, parsed: a byte lost or misplaced fails here."""
        first, second = _read_exactly(self.sock, 2)
        assert first == 0x81, f"not a whole text frame: {first:#x}"
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(_read_exactly(self.sock, 2), "big")
        elif length == 127:
            length = int.from_bytes(_read_exactly(self.sock, 8), "big")
        return json.loads(_read_exactly(self.sock, length))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def big_room(make_user, login_cookie):
    """A room whose history is many large events, and two people's cookies."""
    ann, bob = make_user(username="ann"), make_user(username="bob")
    room = room_create(name="Long history", created_by=ann)
    RoomEvent.objects.bulk_create(
        RoomEvent(
            room=room,
            seq=seq,
            type="chat.message",
            subject_id=seq,
            frame=encode({"type": "chat.message", "seq": seq, "padding": _padding(seq)}),
        )
        for seq in range(room.last_seq + 1, room.last_seq + EVENTS + 1)
    )
    Room.objects.filter(pk=room.pk).update(last_seq=room.last_seq + EVENTS)
    room.refresh_from_db()
    return room, login_cookie(ann), login_cookie(bob)


@pytest.mark.timeout(90)
def test_a_slow_reader_gets_its_replay_and_what_followed_whole_and_in_order(
    daphne_server, big_room
):
    room, ann_cookie, bob_cookie = big_room
    head = room.last_seq
    path = f"/ws/chat/{room.slug}/"
    reader = SlowReader(daphne_server, f"{path}?after=0", ann_cookie)
    seqs, ready = [], None

    def read_until(seq: int) -> None:
        nonlocal ready
        while not seqs or seqs[-1] < seq:
            frame = reader.frame()
            if frame["type"] == "stream.ready":
                ready = frame["seq"]
                assert seqs == list(range(1, head + 1))
            elif "seq" in frame:
                seqs.append(frame["seq"])
                if frame["seq"] <= head:
                    assert frame["padding"] == _padding(frame["seq"])
                else:
                    assert frame["message"]["body"] == "after all that"

    try:
        # A little of the replay read: the server is flushing the rest, far more than
        # the kernel holds, when the live message is written behind it.
        read_until(10)
        with connect(
            daphne_server.ws_url + path,
            origin=daphne_server.origin,
            additional_headers={"Cookie": bob_cookie},
        ) as bob:
            bob.send(json.dumps({"type": "chat.send", "body": "after all that", "client_id": "b1"}))
            read_until(head + 1)
    finally:
        reader.close()
    assert ready == head
    assert seqs == list(range(1, head + 2))


# autobahn's per-frame debug formatting ------------------------------------------------

HANDSHAKE = (
    b"GET /ws/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
# A masked client text frame (zero mask key) saying "hi".
CLIENT_FRAME = b"\x81\x82\x00\x00\x00\x00hi"


@pytest.fixture
def formatting_calls(monkeypatch) -> list[str]:
    """The names of autobahn's formatting helpers called, in the modules that call them per
    frame; the helpers are restored afterwards."""
    calls: list[str] = []

    def counting(name: str, original):
        def counted(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)

        return counted

    for module in (protocol, websocket):
        for name in ("hltype", "hlval"):
            monkeypatch.setattr(module, name, counting(name, getattr(module, name)))
    return calls


def _open_socket(
    kind: type[WebSocketServerProtocol] = WebSocketServerProtocol, **options
) -> tuple[WebSocketServerProtocol, StringTransport]:
    """autobahn's Twisted server protocol, as daphne's is, opened over an in-memory transport."""
    factory = WebSocketServerFactory(reactor=Clock())
    factory.protocol = kind
    factory.setProtocolOptions(openHandshakeTimeout=0, **options)
    server = factory.buildProtocol(None)
    transport = StringTransport()
    server.makeConnection(transport)
    server.dataReceived(HANDSHAKE)
    assert transport.value().startswith(b"HTTP/1.1 101 ")
    transport.clear()
    return server, transport


def test_frames_sent_and_received_format_nothing_for_autobahns_debug_log(formatting_calls):
    server, transport = _open_socket()
    server.sendMessage(b"before")
    server.dataReceived(CLIENT_FRAME)
    # What the launcher saves: this autobahn formats per frame, debug level or not.
    assert "hltype" in formatting_calls and "hlval" in formatting_calls
    formatting_calls.clear()
    transport.clear()

    skip_debug_formatting()
    server.sendMessage(b"after")
    server.dataReceived(CLIENT_FRAME)

    assert formatting_calls == []
    assert transport.value() == b"\x81\x05after"


def test_autobahns_debug_formatting_stays_when_its_debug_level_is_on(formatting_calls, monkeypatch):
    monkeypatch.setattr(txaio, "get_global_log_level", lambda: "debug")
    skip_debug_formatting()
    server, _transport = _open_socket()
    server.sendMessage(b"logged")
    assert "hltype" in formatting_calls


# One write per message --------------------------------------------------------------


class Unserved(LeanSendProtocol):
    """The launcher's protocol with autobahn's own socket events: it opens without a daphne
    server behind it."""

    onConnect = WebSocketServerProtocol.onConnect
    onOpen = WebSocketServerProtocol.onOpen
    onMessage = WebSocketServerProtocol.onMessage
    onClose = WebSocketServerProtocol.onClose
    client_addr = None  # daphne's onConnect would set it


@pytest.mark.parametrize("length", [0, 5, 125, 126, 65_535, 65_536, 300_000])
@pytest.mark.parametrize("binary", [False, True])
def test_a_message_is_framed_in_one_write_exactly_as_autobahn_frames_it(length, binary):
    content = "é" * (length // 2) + "x" * (length % 2)
    payload = content.encode()
    reference, expected = _open_socket()
    reference.sendMessage(payload, binary)
    lean, written = _open_socket(Unserved)
    written.write = _one_write(written.write)

    lean.serverSend(payload if binary else content, binary)

    assert written.value() == expected.value()
    assert written.value()[0] == (0x82 if binary else 0x81)


def _one_write(write):
    calls = []

    def once(data: bytes) -> None:
        calls.append(data)
        assert len(calls) == 1, "a message took more than one write"
        write(data)

    return once


def test_a_message_over_the_limit_is_refused_as_autobahn_refuses_it():
    lean, written = _open_socket(Unserved, maxMessagePayloadSize=1000)
    lean.serverSend("x" * 1000)
    with pytest.raises(PayloadExceededError):
        lean.serverSend("x" * 1001)
    assert len(written.value()) == 4 + 1000


def test_a_socket_that_is_closing_sends_nothing_more():
    lean, written = _open_socket(Unserved)
    lean.sendClose(code=1000)
    written.clear()
    with pytest.raises(Disconnected):
        lean.serverSend("late")
    assert written.value() == b""
