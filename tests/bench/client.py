"""A lean WebSocket client for the load generator's receiving sockets.

The `websockets` library costs some 25 µs of client CPU per received frame;
with a room of 1,000 sockets in two processes, a receiving process then needs
12 ms just to take one message off all its sockets, and that shows up as
server latency. This client is an asyncio Protocol that does the handshake
and parses server frames (which are never masked) in place: a few µs a frame,
so what the benchmark measures is the server.

Only what the benchmark needs: text frames, pings answered, one close.
Client frames are masked, as the protocol requires, with a zero key.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl as ssl_module
from collections.abc import Callable
from urllib.parse import urlsplit

_ZERO_MASK = b"\x00\x00\x00\x00"


class HandshakeError(Exception):
    pass


class LeanSocket(asyncio.Protocol):
    def __init__(self, on_text: Callable[[bytes], None]) -> None:
        self.on_text = on_text
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.request = b""

    # Connection -------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(f"connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.opened.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            status = head.split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                self.opened.set_exception(HandshakeError(status.decode(errors="replace")))
                self.transport.close()
                return
            self.opened.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buffer = self.buffer
        offset, size = 0, len(buffer)
        while size - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            length = second & 0x7F
            start = offset + 2
            if length == 126:
                if size - start < 2:
                    break
                length = int.from_bytes(buffer[start : start + 2], "big")
                start += 2
            elif length == 127:
                if size - start < 8:
                    break
                length = int.from_bytes(buffer[start : start + 8], "big")
                start += 8
            if size - start < length:
                break
            opcode = first & 0x0F
            payload = bytes(buffer[start : start + length])
            offset = start + length
            if opcode == 1:
                self.on_text(payload)
            elif opcode == 9:
                self._send(0xA, payload)  # pong
            elif opcode == 8:
                self.transport.close()
        del buffer[:offset]

    # Sending ----------------------------------------------------------------------

    def _send(self, opcode: int, payload: bytes) -> None:
        length = len(payload)
        if length < 126:
            header = bytes([0x80 | opcode, 0x80 | length])
        elif length < 65536:
            header = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
        self.transport.write(header + _ZERO_MASK + payload)

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send_text(self, text: str) -> None:
        self._send(1, text.encode())

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(8, (1000).to_bytes(2, "big"))
            self.transport.close()
        await self.closed


async def open_lean(
    url: str, *, origin: str, cookie: str | None, on_text: Callable[[bytes], None]
) -> LeanSocket:
    """Connect, shake hands, and return the open socket; frames go to `on_text`."""
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    context = None
    if secure:
        context = ssl_module.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {parts.hostname}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"Origin: {origin}",
    ]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    loop = asyncio.get_running_loop()
    protocol = LeanSocket(on_text)
    protocol.request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    await loop.create_connection(lambda: protocol, parts.hostname, port, ssl=context)
    await protocol.opened
    return protocol
