"""daphne, made cheaper per frame: `python -m project.daphne`, then daphne's own arguments.

The server, its options and its behaviour are daphne's. Two things underneath
change, both before daphne's modules are imported:

1. **uvloop.** daphne runs Twisted on an asyncio event loop that it makes when
   `daphne.server` is first imported. Choosing uvloop's policy before that
   import gives daphne uvloop's loop, written in C, in place of the
   pure-Python selector loop.

2. **Writes go straight to the socket when nothing is queued.** Twisted's TCP
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

Every daphne here starts this way: `make run`, the image, the compose `ws`
service, the test suite and the benchmark.
"""

import asyncio
import sys

import uvloop
from twisted.internet import abstract, tcp  # neither installs a reactor: daphne still does


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


def main() -> None:
    if "daphne.server" in sys.modules:
        raise RuntimeError("daphne.server was imported before the loop policy was set")
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    # The transport class every listening TCP port (`-p`, `-e tcp:`, `--fd`) makes.
    tcp.Port.transport = WriteThroughServer
    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
