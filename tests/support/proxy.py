"""A loopback TCP proxy a test can cut: the network failure a browser cannot fake.

Chromium's offline mode leaves an open WebSocket alone, so a test that needs a
page to lose its socket puts this proxy between the page and daphne and calls
`cut()`: every open connection is dropped at once (the browser sees the socket
close, daphne sees the client leave), and new connections are held, accepted
but not forwarded, until `resume()`; or, with `cut(refuse=True)`, closed as
soon as they arrive. Held connections go through on `resume()`, so a client
that was retrying connects at once instead of after its next backoff.

    proxy = TcpProxy(upstream_port).start()
    page.goto(proxy.url + "/chat/lobby/")
    proxy.cut()
    ...
    proxy.resume()
    proxy.stop()

Plain threads and blocking sockets: two pumping threads per connection, which
is plenty for a browser test.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

BUFFER = 64 * 1024


def _close(sock: socket.socket, *, reset: bool = False) -> None:
    """Close a socket and wake any thread blocked on it; `reset` sends RST, not FIN."""
    try:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # shutdown() wakes a thread blocked in recv() on the socket; close() alone
        # would not, and the socket would stay open until that recv() returned.
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class _Link:
    """One client connection joined to its own upstream connection."""

    def __init__(self, proxy: TcpProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = False
        self.half_closed = 0
        self.lock = threading.Lock()

    def start(self) -> None:
        for source, target in ((self.client, self.upstream), (self.upstream, self.client)):
            threading.Thread(target=self.pump, args=(source, target), daemon=True).start()

    def pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(BUFFER):
                target.sendall(data)
            # A half-close passes through: the other direction may still have bytes to carry.
            target.shutdown(socket.SHUT_WR)
        except OSError:
            self.close()
            return
        with self.lock:
            self.half_closed += 1
            both = self.half_closed == 2
        if both:
            self.close()

    def close(self, *, reset: bool = False) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        _close(self.client, reset=reset)
        _close(self.upstream)
        self.proxy._forget(self)


class TcpProxy:
    """Forward 127.0.0.1:<port> to 127.0.0.1:<upstream_port>, until the test says otherwise."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port: int = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.links: set[_Link] = set()
        self.held: list[socket.socket] = []
        self.mode = "open"  # "open" | "hold" | "refuse"
        self.stopping = False
        self.accepted = 0  # connections the proxy has accepted, ever
        self.events: list[str] = []  # what happened, for a failure report
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        self.thread.start()
        return self

    # What a test does ------------------------------------------------------------

    def cut(self, *, refuse: bool = False) -> int:
        """Drop every open connection; hold new ones (or close them, with `refuse`).

        Returns how many connections were dropped.
        """
        with self.lock:
            self.mode = "refuse" if refuse else "hold"
            links = list(self.links)
        for link in links:
            link.close(reset=True)
        self._log(f"cut: dropped {len(links)} connection(s), new ones {self.mode}")
        return len(links)

    def resume(self) -> None:
        """Forward again, starting with the connections held since the cut."""
        with self.lock:
            self.mode = "open"
            held, self.held = self.held, []
        self._log(f"resume: forwarding {len(held)} held connection(s)")
        for client in held:
            self._forward(client)

    def stop(self) -> None:
        """Close the listener and every connection."""
        with self.lock:
            if self.stopping:
                return
            self.stopping = True
            links, self.links = list(self.links), set()
            held, self.held = self.held, []
        # Wake the accept loop with a connection of our own.
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        self.thread.join(5)
        self.listener.close()
        for link in links:
            link.close()
        for client in held:
            _close(client)

    @property
    def open_connections(self) -> int:
        with self.lock:
            return len(self.links)

    def log(self) -> str:
        return "\n".join(self.events) or "(nothing happened)"

    # Machinery -------------------------------------------------------------------

    def _log(self, text: str) -> None:
        self.events.append(f"{time.monotonic():.3f} {text}")

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.stopping:
                    client.close()
                    return
                self.accepted += 1
                mode = self.mode
                if mode == "hold":
                    self.held.append(client)
            if mode == "refuse":
                self._log("refused a connection")
                _close(client, reset=True)
            elif mode == "hold":
                self._log("holding a connection")
            else:
                self._forward(client)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.settimeout(None)
        except OSError as error:
            self._log(f"upstream refused: {error}")
            _close(client, reset=True)
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(self, client, upstream)
        with self.lock:
            # A cut (or stop) that came while this connection was being set up drops it too.
            dropped = self.stopping or self.mode != "open"
            if not dropped:
                self.links.add(link)
        if dropped:
            self._log("dropped a connection set up during a cut")
            _close(client, reset=True)
            _close(upstream)
            return
        link.start()

    def _forget(self, link: _Link) -> None:
        with self.lock:
            self.links.discard(link)
