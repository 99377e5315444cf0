"""The load generator of the storm and rooms workloads: processes holding many sockets, each
socket in a room of its own choosing, each socket its own user.

A socket is a `Seat`: the URL it opens, its session cookie, its room, the
frames it sends once open, and how many `stream.ready` frames make it ready
(none: the accepted handshake is the ready signal, for servers that send
nothing). Each process opens its seats with a bounded number of handshakes in
flight, records when each became ready and how many bytes it received (and of
those, presence frames', which are counted, never kept), and, in the rooms
workload, sends messages from its seats at a given aggregate rate. As in
load.py, a received frame costs a timestamp and an append while a step runs;
it is parsed after the step.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import re
import time
from array import array
from dataclasses import dataclass, field

import psutil
import uvloop

from tests.bench.client import LeanSocket, open_lean

# Frames of type presence, presence.state, presence.diff ..., wherever the key sits.
PRESENCE = re.compile(rb'"type": ?"presence')
READY = b'"stream.ready"'
# A multiplexed socket's ready for a joined room (its personal stream's does not count).
ROOM_TAG = re.compile(rb'"stream": ?"chat:')


def message_key(step: int, sender: int, number: int) -> int:
    """One number per message of a run: its step, its number in its process's step, its sender."""
    return (step * 100_000 + number) * 100_000 + sender


@dataclass
class Seat:
    url: str
    cookie: str | None
    room: int  # index of its room, for counting deliveries and loss
    joins: list[str] = field(default_factory=list)  # frames sent once open
    readies: int = 1  # stream.ready frames that make it ready (0: the handshake)
    tagged: bool = False  # a multiplexed socket: only rooms' stream.ready count


@dataclass
class Plan:
    dialect: str  # "ours" | "tutorial" | "ceiling"
    origin: str
    seats: list[tuple[int, Seat]]  # (global index, seat)


class Crowd:
    """One process's seats and what they received."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.sockets: list[LeanSocket | None] = []
        self.bytes = array("q", [0] * len(plan.seats))
        self.presence_bytes = array("q", [0] * len(plan.seats))
        self.ready_at = array("d", [0.0] * len(plan.seats))
        self.received: list[tuple[int, int, bytes]] = []
        self.sent: list[tuple[int, int]] = []  # (room, message key)
        self.seen: list[set[int]] = [set() for _ in plan.seats]  # seqs, or message numbers
        self.bodies: list[dict[int, int]] = [{} for _ in plan.seats]  # message key -> seq
        self.doubled = 0
        self.errors = 0

    # Opening ----------------------------------------------------------------------

    async def open_all(self, inflight: int, ready_within: float, retries: int) -> dict:
        """Open every seat, at most `inflight` handshakes at a time. A socket whose handshake
        fails (the server may drop handshakes it has not answered in time) or that is not ready
        within `ready_within` seconds tries again after a second, as a browser's would, up to
        `retries` times."""
        gate = asyncio.Semaphore(inflight)
        loop = asyncio.get_running_loop()
        first: list[float] = []
        failures: list[str] = []

        async def attempt(position: int, seat: Seat) -> LeanSocket:
            ready = loop.create_future()
            async with gate:
                first.append(time.time())
                socket = await open_lean(
                    seat.url,
                    origin=self.plan.origin,
                    cookie=seat.cookie,
                    on_text=self.handler(position, seat, ready),
                )
            for frame in seat.joins:
                socket.send_text(frame)
            if seat.readies == 0:
                ready.set_result(None)
            try:
                await asyncio.wait_for(ready, ready_within)
            except BaseException:
                await socket.close()
                raise
            self.ready_at[position] = time.time()
            return socket

        async def one(position: int, seat: Seat) -> LeanSocket | None:
            for tried in range(retries + 1):
                try:
                    return await attempt(position, seat)
                except Exception as error:  # counted and reported, the others carry on
                    failures.append(f"{type(error).__name__}: {error}")
                    if tried < retries:
                        await asyncio.sleep(1)
            return None

        self.sockets = await asyncio.gather(
            *(one(position, seat) for position, (_n, seat) in enumerate(self.plan.seats))
        )
        return {
            "first": min(first) if first else None,
            "ready": [t for t in self.ready_at if t],
            "failed": sum(1 for socket in self.sockets if socket is None),
            "attempts_failed": len(failures),
            "failures": sorted(set(failures))[:5],
        }

    def handler(self, position: int, seat: Seat, ready: asyncio.Future):
        counts, presence, clock = self.bytes, self.presence_bytes, time.time_ns
        append = self.received.append
        wanted = [seat.readies]

        def on_text(payload: bytes) -> None:
            counts[position] += len(payload)
            if PRESENCE.search(payload):
                presence[position] += len(payload)
                return
            if not ready.done() and READY in payload:
                if not seat.tagged or ROOM_TAG.search(payload):
                    wanted[0] -= 1
                    if wanted[0] <= 0:
                        ready.set_result(None)
                return
            append((position, clock(), payload))

        return on_text

    def bytes_received(self) -> dict:
        return {"bytes": list(self.bytes), "presence": list(self.presence_bytes)}

    # Sending ----------------------------------------------------------------------

    async def send_step(self, total: int, seconds: float, step: int) -> int:
        """Send `total` messages evenly over `seconds`, from each seat in turn."""
        seats = [
            (n, seat, socket)
            for (n, seat), socket in zip(self.plan.seats, self.sockets, strict=True)
            if socket and socket.open
        ]
        if not seats or total <= 0:
            return 0
        rate, started = total / seconds, time.monotonic()
        dialect = self.plan.dialect
        for number in range(total):
            delay = started + number / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sender, seat, socket = seats[number % len(seats)]
            text = f"{step}:{sender}:{number}:{time.time_ns()}"
            key = message_key(step, sender, number)
            if dialect == "ours":
                client_id = f"s{step}n{number}u{sender}"
                text = json.dumps({"type": "chat.send", "body": text, "client_id": client_id})
            elif dialect == "tutorial":
                text = json.dumps({"message": text})
            if not socket.open:
                continue  # the server closed it: counted as undelivered
            socket.send_text(text)
            self.sent.append((seat.room, key))
        return total

    # Counting ---------------------------------------------------------------------

    def digest(self, replaying: bool = False) -> dict[int, tuple[array, list[int]]]:
        """Parse what arrived since the last call: for each step, the latencies (ms) of its
        deliveries to sockets other than the sender, and its first and last receipt (ns)."""
        received = self.received.copy()  # the handlers hold this list's append
        self.received.clear()
        dialect = self.plan.dialect
        latencies: dict[int, tuple[array, list[int]]] = {}
        globals_ = [n for n, _seat in self.plan.seats]
        for position, now, payload in received:
            seq = None
            if dialect == "ours":
                frame = json.loads(payload)
                if frame.get("type") != "chat.message":
                    if frame.get("type") == "error":
                        self.errors += 1
                    continue
                message, seq = frame["message"]["body"], frame["seq"]
            elif dialect == "tutorial":
                message = json.loads(payload)["message"]
            else:
                message = payload.decode()
            step, sender, number, sent = message.split(":")
            key = message_key(int(step), int(sender), int(number))
            if seq is not None:
                known = self.bodies[position].setdefault(key, seq)
                if known != seq:
                    self.doubled += 1  # one message persisted twice
            mark = seq if seq is not None else key
            seen = self.seen[position]
            if mark in seen:
                if not replaying:
                    self.doubled += 1  # delivered twice live
                continue
            seen.add(mark)
            if int(sender) != globals_[position] and not replaying:
                values, window = latencies.setdefault(int(step), (array("d"), [now, now]))
                values.append((now - int(sent)) / 1e6)
                window[0], window[1] = min(window[0], now), max(window[1], now)
        return latencies

    async def resume(self, heads: dict[int, int]) -> tuple[int, int]:
        """(missing before, missing after) resuming each socket with stream.sync from its first
        gap; `heads` are the rooms' committed heads."""
        before = self.missing(heads)
        if before:
            for (_n, seat), socket, seen in zip(
                self.plan.seats, self.sockets, self.seen, strict=True
            ):
                gap = next(
                    (s for s in range(1, heads.get(seat.room, 0) + 1) if s not in seen), None
                )
                if socket is not None and gap is not None and socket.open:
                    socket.send_text(json.dumps({"type": "stream.sync", "after": gap - 1}))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.missing(heads):  # noqa: ASYNC110 - polling the listeners' progress
                await asyncio.sleep(0.2)
                self.digest(replaying=True)
        return before, self.missing(heads)

    def missing(self, heads: dict[int, int]) -> int:
        return sum(
            1
            for (_n, seat), seen in zip(self.plan.seats, self.seen, strict=True)
            for seq in range(1, heads.get(seat.room, 0) + 1)
            if seq not in seen
        )

    def missing_raw(self, sent: dict[int, list[int]]) -> int:
        """Messages sent into a socket's room that it never received (servers that cannot
        resume): `sent` holds each room's message numbers."""
        return sum(
            1
            for (_n, seat), seen in zip(self.plan.seats, self.seen, strict=True)
            for key in sent.get(seat.room, ())
            if key not in seen
        )

    async def close(self) -> None:
        await asyncio.gather(
            *(socket.close() for socket in self.sockets if socket), return_exceptions=True
        )


def crowd_main(plan: Plan, pipe) -> None:
    """A crowd process: obeys the orchestrator's commands over `pipe`."""

    async def serve() -> None:
        crowd = Crowd(plan)
        loop = asyncio.get_running_loop()
        me = psutil.Process()
        while True:
            command, argument = await loop.run_in_executor(None, pipe.recv)
            if command == "open":
                pipe.send(await crowd.open_all(*argument))
            elif command == "bytes":
                pipe.send(crowd.bytes_received())
            elif command == "send":
                pipe.send(await crowd.send_step(*argument))
            elif command == "take":
                latencies = crowd.digest()
                pipe.send({step: (list(v), w) for step, (v, w) in latencies.items()})
            elif command == "sent":
                pipe.send(crowd.sent)
            elif command == "resume":
                crowd.digest()
                pipe.send(await crowd.resume(argument))
            elif command == "raw":
                crowd.digest()
                pipe.send(crowd.missing_raw(argument))
            elif command == "faults":
                pipe.send((crowd.doubled, crowd.errors))
            elif command == "cpu":
                times = me.cpu_times()
                pipe.send(times.user + times.system)
            elif command == "close":
                await crowd.close()
                pipe.send(None)
                return

    uvloop.run(serve())


class Crowds:
    """The orchestrator's handle on the crowd processes; seats are dealt round-robin, so each
    room's sockets sit in different processes."""

    def __init__(self, dialect: str, origin: str, seats: list[Seat], processes: int) -> None:
        self.pipes, self.processes = [], []
        self.count = len(seats)
        context = multiprocessing.get_context("spawn")
        for n in range(processes):
            share = [(i, seat) for i, seat in enumerate(seats) if i % processes == n]
            parent, child = context.Pipe()
            process = context.Process(target=crowd_main, args=(Plan(dialect, origin, share), child))
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def ask(self, command: str, argument=None, *, each=None) -> list:
        for n, pipe in enumerate(self.pipes):
            pipe.send((command, each(n) if each else argument))
        return [pipe.recv() for pipe in self.pipes]

    def cpu_seconds(self) -> float:
        return sum(self.ask("cpu"))

    def close(self) -> None:
        # A crowd that died has said why on stderr: stop the others all the same.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, EOFError):
            self.ask("close")
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()
