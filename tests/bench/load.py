"""The load generator: receiver processes holding N sockets in one room, and a sender.

Each receiver process holds its share of the sockets and records, for every
frame, the delivery latency (the sender writes its send time into each
message) and which message it was, so that losses can be counted. It reports
its own CPU time, so a reader can see it was not the bottleneck.

Dialects: `ours` (the chat protocol: JSON frames with a seq; losses are
resumed with `stream.sync` before they are counted), `tutorial` (the Channels
tutorial's `{"message": ...}`) and `ceiling` (plain text).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import ssl
import time
from array import array
from dataclasses import dataclass, field

import psutil
import uvloop
from websockets.asyncio.client import connect

from tests.bench.client import LeanSocket, open_lean

CONNECT_CONCURRENCY = 50


@dataclass
class Target:
    url: str  # the room's socket URL
    dialect: str  # "ours" | "tutorial" | "ceiling"
    origin: str
    cookie: str | None = None
    extra: dict = field(default_factory=dict)

    def open(self):
        headers = {"Cookie": self.cookie} if self.cookie else None
        context = None
        if self.url.startswith("wss:"):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return connect(
            self.url,
            origin=self.origin,
            additional_headers=headers,
            ssl=context,
            compression=None,
            max_queue=None,
            max_size=2**20,
            open_timeout=60,
            ping_interval=None,
        )


def body(step: int, number: int) -> str:
    return f"{step}:{number}:{time.time_ns()}"


# Receivers --------------------------------------------------------------------------


class Receiver:
    """One process's sockets (lean client: tests/bench/client.py), and what they received.

    While a step runs, a frame costs the receiver one timestamp and one append:
    parsing waits for `take()`, after the step, so it neither competes with the
    server for the cores nor delays the next socket's frame.
    """

    def __init__(self, target: Target, count: int) -> None:
        self.target = target
        self.count = count
        self.sockets: list[LeanSocket] = []
        self.received: list[tuple[int, int, bytes]] = []  # (socket, receive time ns, payload)
        self.latencies: dict[int, array] = {}
        self.windows: dict[int, list[int]] = {}  # step -> [first, last] receive time (ns)
        self.seen: list[set[int]] = [set() for _ in range(count)]  # message numbers or seqs
        self.connect_seconds = 0.0

    async def connect_all(self) -> None:
        started = time.monotonic()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        loop = asyncio.get_running_loop()
        self.ready = [loop.create_future() for _ in range(self.count)]

        async def one(index: int) -> LeanSocket:
            async with gate:
                socket = await open_lean(
                    self.target.url,
                    origin=self.target.origin,
                    cookie=self.target.cookie,
                    on_text=self.handler(index),
                )
                if self.target.dialect != "ours":
                    self.ready[index].set_result(None)
                await self.ready[index]
                return socket

        self.sockets = await asyncio.gather(*(one(n) for n in range(self.count)))
        self.connect_seconds = time.monotonic() - started

    def handler(self, index: int):
        ready, append, clock = self.ready[index], self.received.append, time.time_ns

        def on_text(payload: bytes) -> None:
            append((index, clock(), payload))
            if not ready.done() and b'"stream.ready"' in payload:
                ready.set_result(None)

        return on_text

    def digest(self) -> None:
        """Parse what arrived since the last call: latencies, windows and seen sets."""
        received = self.received.copy()  # the handlers hold this list's append
        self.received.clear()
        dialect, latencies, windows = self.target.dialect, self.latencies, self.windows
        for index, now, payload in received:
            seq = None
            if dialect == "ours":
                frame = json.loads(payload)
                if frame["type"] != "chat.message":
                    continue
                message, seq = frame["message"]["body"], frame["seq"]
            elif dialect == "tutorial":
                message = json.loads(payload)["message"]
            else:
                message = payload.decode()
            step, number, sent = message.split(":")
            key = seq if seq is not None else int(number)
            seen = self.seen[index]
            if key in seen:
                continue  # a duplicate would be a bug; resume replays only what was missed
            seen.add(key)
            step = int(step)
            if step >= 0:
                latencies.setdefault(step, array("d")).append((now - int(sent)) / 1e6)
                window = windows.setdefault(step, [now, now])
                window[0], window[1] = min(window[0], now), max(window[1], now)

    def take(self, step: int) -> tuple[list[float], list[int] | None]:
        self.digest()
        return list(self.latencies.pop(step, array("d"))), self.windows.pop(step, None)

    async def resume(self, expected: int) -> tuple[int, int]:
        """(missing before, missing after) resuming each socket from its first gap."""
        self.digest()
        before = self.missing(expected)
        if self.target.dialect != "ours" or before == 0:
            return before, before
        for socket, seen in zip(self.sockets, self.seen, strict=True):
            missing = [seq for seq in range(1, expected + 1) if seq not in seen]
            if missing:
                socket.send_text(json.dumps({"type": "stream.sync", "after": missing[0] - 1}))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.missing(expected):  # noqa: ASYNC110 - polling the listeners' progress
            await asyncio.sleep(0.2)
            self.digest()
        return before, self.missing(expected)

    def missing(self, expected: int) -> int:
        """Deliveries of messages 1..expected that no socket of this process has had."""
        wanted = range(1, expected + 1) if self.target.dialect == "ours" else range(expected)
        return sum(1 for seen in self.seen for key in wanted if key not in seen)

    async def close(self) -> None:
        await asyncio.gather(*(socket.close() for socket in self.sockets), return_exceptions=True)


def receiver_main(target: Target, count: int, pipe) -> None:
    """A receiver process: obeys the orchestrator's commands over `pipe`."""

    async def serve() -> None:
        receiver = Receiver(target, count)
        loop = asyncio.get_running_loop()
        me = psutil.Process()
        while True:
            command, argument = await loop.run_in_executor(None, pipe.recv)
            if command == "connect":
                await receiver.connect_all()
                pipe.send(receiver.connect_seconds)
            elif command == "take":
                pipe.send(receiver.take(argument))
            elif command == "cpu":
                times = me.cpu_times()
                pipe.send(times.user + times.system)
            elif command == "resume":
                pipe.send(await receiver.resume(argument))
            elif command == "close":
                await receiver.close()
                pipe.send(None)
                return

    uvloop.run(serve())


class Receivers:
    """The orchestrator's handle on the receiver processes."""

    def __init__(self, target: Target, sockets: int, processes: int) -> None:
        self.pipes, self.processes = [], []
        context = multiprocessing.get_context("spawn")
        for n in range(processes):
            share = sockets // processes + (1 if n < sockets % processes else 0)
            parent, child = context.Pipe()
            process = context.Process(target=receiver_main, args=(target, share, child))
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def ask(self, command: str, argument=None) -> list:
        for pipe in self.pipes:
            pipe.send((command, argument))
        return [pipe.recv() for pipe in self.pipes]

    def connect(self) -> float:
        return max(self.ask("connect"))

    def take(self, step: int) -> tuple[list[float], float]:
        """The step's latencies (ms), and the seconds from its first delivery to its last."""
        parts = self.ask("take", step)
        latencies = [latency for part, _window in parts for latency in part]
        windows = [window for _part, window in parts if window]
        span = (max(w[1] for w in windows) - min(w[0] for w in windows)) / 1e9 if windows else 0
        return latencies, span

    def cpu_seconds(self) -> float:
        return sum(self.ask("cpu"))

    def resume(self, expected: int) -> tuple[int, int]:
        results = self.ask("resume", expected)
        return sum(r[0] for r in results), sum(r[1] for r in results)

    def close(self) -> None:
        # A receiver that died has said why on stderr: stop the others all the same.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, EOFError):
            self.ask("close")
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()


# The sender -------------------------------------------------------------------------------


async def send_at_rate(target: Target, rate: float, seconds: float, step: int, first: int) -> int:
    """Send `rate` messages a second for `seconds`; returns how many were sent."""
    async with target.open() as socket:
        if target.dialect == "ours":
            while json.loads(await socket.recv())["type"] != "stream.ready":
                pass
        drain = asyncio.create_task(_drain(socket))
        started = time.monotonic()
        total = int(rate * seconds)
        for n in range(total):
            due = started + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            text = body(step, first + n)
            if target.dialect == "ours":
                text = json.dumps({"type": "chat.send", "body": text, "client_id": f"b{first + n}"})
            elif target.dialect == "tutorial":
                text = json.dumps({"message": text})
            await socket.send(text)
        drain.cancel()
        return total


async def _drain(socket) -> None:
    async for _frame in socket:
        pass


def sender_main(target: Target, rate: float, seconds: float, step: int, first: int, pipe) -> None:
    started = os.times()
    sent = asyncio.run(send_at_rate(target, rate, seconds, step, first))
    ended = os.times()
    pipe.send((sent, (ended.user - started.user) + (ended.system - started.system)))


def send(target: Target, rate: float, seconds: float, step: int, first: int) -> tuple[int, float]:
    """Run the sender in a process of its own; (messages sent, its CPU seconds)."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=sender_main, args=(target, rate, seconds, step, first, child))
    process.start()
    result = parent.recv()
    process.join(10)
    return result
