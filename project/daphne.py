"""daphne with this project's options, made cheaper per frame: `python -m project.daphne`,
then where to listen and the application, in daphne's own arguments.

The server and its behaviour are daphne's. Five things change, and one line of its
start-up log goes (`without_http2_notice`):

1. **The project's options.** `OPTIONS` go before the caller's arguments, so
   every daphne here gets the same frame limits, pings and shutdown time, and a
   caller passes only where to listen (`-b`/`-p`, `--fd`, `-e`) and the
   application. A caller that must differ passes the option again: daphne
   takes the last one given.

2. **uvloop.** daphne runs Twisted on an asyncio event loop that it makes when
   `daphne.server` is first imported. Choosing uvloop's policy before that
   import gives daphne uvloop's loop, written in C, in place of the
   pure-Python selector loop.

3. **Writes go straight to the socket when nothing is queued.** Twisted's TCP
   transport never writes in `write()`: it queues the bytes, registers the
   socket with the loop for writability, and on the next loop turn sends them
   and unregisters the socket again. For a broadcast to a room of 1,000
   sockets that is 1,000 registrations, 1,000 callbacks through Twisted's
   logging context and 1,000 unregistrations, nearly half of daphne's CPU
   time per delivery (docs/performance.md). `WriteThroughServer` sends the
   bytes at once when the connection has nothing queued, as asyncio's own
   transports do. Whatever the kernel does not take (a slow reader, a full
   buffer) is queued behind, and from then on every write takes Twisted's own
   path until the queue has drained, so bytes never overtake each other. An
   error is not handled here: the bytes are queued, and Twisted's next write
   attempt meets the same error and closes the connection the usual way, so
   no protocol callback ever runs inside a `write()` call.

4. **No debug formatting per frame.** autobahn logs every frame it sends and
   every read it takes at debug level, and the arguments of those calls are
   built before the logger is asked: `hltype`/`hlval` format the method's
   qualified name and the peer, coloured through `click` when it is installed,
   some 3 µs a frame on a quiet machine, 16 % of daphne's time in a broadcast.
   daphne never turns autobahn's (txaio's) debug level on, so the logger is a
   no-op and the text is thrown away. `skip_debug_formatting` gives the two
   modules that make those calls helpers that hand the value back as it is,
   unless txaio's debug level is on when daphne starts.

5. **A message is framed in one step.** For each message an application sends,
   daphne calls autobahn's `sendMessage`, which checks its arguments, counts
   the bytes in traffic counters that nothing here reads, and goes
   through `sendFrame` and `sendData` to `transport.write`: several µs of
   Python per delivery, more than the framing itself. `LeanSendProtocol`, the
   class daphne's WebSocket factory builds, writes the frame header and the
   payload at once when autobahn would do nothing else: the socket open, no
   compression, fragmentation, masking, frame or octet logging, timing or
   queued chopped writes, the payload within the message limit, and daphne's
   own debug log off. Anything else (an oversize message autobahn refuses, a
   socket not yet accepted or closing) takes daphne's and autobahn's own path.

Every daphne here starts this way: `make run`, the image, the compose `ws`
service, the test suite and the benchmark.
"""

import asyncio
import logging
import sys
from typing import cast

import txaio
import uvloop
from daphne import ws_protocol  # imports neither daphne.server nor a reactor
from twisted.internet import abstract, tcp  # neither installs a reactor: daphne still does

# The options every daphne of this project runs with, before the caller's own.
# region: daphne-project-options
OPTIONS = (
    # An inbound frame over 64 KiB (the consumers' MAX_FRAME_BYTES) is refused from
    # its header, before daphne buffers it: the connection is dropped (the client
    # sees 1006, docs/protocol.md). This limit applies to what clients send only.
    "--websocket-max-frame-size=65536",
    # The limit on a whole message applies both ways: daphne's WebSocket library
    # will not send a larger one, and daphne then closes the socket with 1011. So
    # it stays at daphne's 1 MiB, far above the largest frame the app sends (an
    # editor's copy of a 20,000-character liveblog post, with its HTML). A message
    # over 64 KiB sent in smaller fragments reaches the consumer, which closes 4009.
    "--websocket-max-message-size=1048576",
    # Ping a quiet socket after 20 s and drop it 30 s later if it has not answered,
    # so a vanished client costs at most 50 s. nginx's proxy_read_timeout on /ws/
    # is longer than the two together, so it never cuts a live socket.
    "--ping-interval=20",
    "--ping-timeout=30",
    # On SIGTERM, how long consumers get to finish; compose's stop_grace_period
    # for `ws` is longer, so Docker waits for this before it kills.
    "--application-close-timeout=10",
    # Not here, nor given by any caller: --proxy-headers. daphne would then replace
    # the peer's address with X-Forwarded-For's, whoever sent it, and the app's
    # TrustedProxyMiddleware, which believes forwarded headers only from the
    # proxies in DJANGO_TRUSTED_PROXIES, could no longer tell who the peer is.
)
# endregion


class WriteThroughServer(tcp.Server):
    """Twisted's TCP server connection, with writes sent at once while nothing is queued."""

    def write(self, data: bytes) -> None:
        if (
            self.TLS
            or not self.connected
            or self.disconnecting
            or self._writeDisconnecting
            or self._writeDisconnected
            or self._tempDataBuffer
            or self.offset != len(self.dataBuffer)
            or type(data) is not bytes
        ):
            # Something is queued, or the connection is going: Twisted's own path.
            super().write(data)
            return
        try:
            sent = self.socket.send(data)
        except OSError:
            # EAGAIN, or an error that Twisted's next attempt meets and handles.
            sent = 0
        if sent < len(data):
            abstract.FileDescriptor.write(self, data[sent:])


class LeanSendProtocol(ws_protocol.WebSocketProtocol):
    """daphne's WebSocket protocol, sending an unfragmented message as one write."""

    def serverSend(self, content: str | bytes, binary: bool = False) -> None:
        payload = cast(bytes, content) if binary else cast(str, content).encode()
        length = len(payload)
        if (
            self.state != self.STATE_OPEN
            or self._perMessageCompress is not None
            or self.autoFragmentSize
            or self.maskServerFrames
            or self.logFrames
            or self.logOctets
            or self.trackedTimings
            or self.send_queue
            or 0 < self.maxMessagePayloadSize < length
            or ws_protocol.logger.isEnabledFor(logging.DEBUG)
        ):
            super().serverSend(content, binary)
            return
        # A final frame of opcode 2 (binary) or 1 (text), unmasked: RFC 6455, 5.2.
        first = 0x82 if binary else 0x81
        if length <= 125:
            header = bytes((first, length))
        elif length <= 0xFFFF:
            header = bytes((first, 126)) + length.to_bytes(2, "big")
        else:
            header = bytes((first, 127)) + length.to_bytes(8, "big")
        self.transport.write(header + payload)


def _unformatted(value: object, *args: object, **kwargs: object) -> object:
    """autobahn's `hltype`/`hlval` for a log call that logs nothing: the value as it is."""
    return value


def skip_debug_formatting() -> None:
    """Stop autobahn formatting the arguments of its per-frame debug calls, if debug is off."""
    from autobahn.twisted import websocket
    from autobahn.websocket import protocol

    # Set by txaio once autobahn has chosen Twisted, so not in its type stubs.
    if txaio.get_global_log_level() in ("debug", "trace"):  # type: ignore[attr-defined]
        return
    for module in (protocol, websocket):
        module.hltype = module.hlval = _unformatted  # type: ignore[attr-defined]


def daphne_argv(args: list[str]) -> list[str]:
    """daphne's arguments: the project's options, then the caller's (the last one given wins)."""
    return [*OPTIONS, *args]


def without_http2_notice(record: logging.LogRecord) -> bool:
    """daphne's start-up line that HTTP/2 is off reads like work left to do: it is not.
    daphne serves HTTP/1.1 here on purpose; TLS, and any newer HTTP, are for the proxy
    in front (deploy/nginx)."""
    return not record.getMessage().startswith("HTTP/2 support not enabled")


def main() -> None:
    if "daphne.server" in sys.modules:
        raise RuntimeError("daphne.server was imported before the loop policy was set")
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    # The transport class every listening TCP port (`-p`, `-e tcp:`, `--fd`) makes.
    tcp.Port.transport = WriteThroughServer
    ws_protocol.WebSocketFactory.protocol = LeanSendProtocol
    logging.getLogger("daphne.server").addFilter(without_http2_notice)
    from daphne.cli import CommandLineInterface

    skip_debug_formatting()
    CommandLineInterface().run(daphne_argv(sys.argv[1:]))


if __name__ == "__main__":
    main()
