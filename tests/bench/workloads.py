"""The storm and rooms workloads (docs/performance.md, Method): run on a started server, report.

storm        N sockets, each its own user, open into one room, at most `inflight`
             handshakes at a time, as clients come back after a replica restarts.
storm-tabs   the same on the multiplexed socket (/ws/), each joining 20 rooms.
rooms        R rooms of S sockets, every socket sending now and then, the
             aggregate rate stepped up until the server saturates; then loss after
             resuming, and a long step at a low rate (rooms-steady) across heartbeats.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

from tests.bench.crowd import Crowds, Seat

ROOM_RATES = [10, 25, 50, 100, 200, 400, 700, 1000, 1500, 2000]
TAB_ROOMS = 20
STEADY_STEP = 999
ROOMS_INFLIGHT = 4


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def say(text: str) -> None:
    """The benchmark's progress, on standard output."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _crowds(bench, seats: list[Seat], processes: int) -> Crowds:
    crowds = Crowds(bench.target.dialect, bench.target.origin, seats, processes)
    crowds.cpu_seconds()  # every process is up before the clock starts
    return crowds


# Storm --------------------------------------------------------------------------------


def storm(
    bench, *, sockets: int, inflight: int, processes: int, tabs: bool, timeout: float, retries: int
) -> dict:
    ours = bench.target.dialect == "ours"
    names = [f"tab{n:02d}" for n in range(1, TAB_ROOMS + 1)] if tabs else ["storm"]
    cookies, slugs = bench.prepare(sockets, names)
    if tabs:
        joins = [json.dumps({"type": "stream.join", "stream": f"chat:{slug}"}) for slug in slugs]
        seats = [
            Seat(f"{bench.ws_base}/ws/", cookie, 0, joins=joins, readies=len(joins), tagged=True)
            for cookie in cookies
        ]
    else:
        url = bench.room_url(slugs[0])
        seats = [Seat(url, cookie, 0, readies=1 if ours else 0) for cookie in cookies]
    crowds = _crowds(bench, seats, processes)
    try:
        cpu_before, load_before = bench.cpu_seconds(), crowds.cpu_seconds()
        started = time.monotonic()
        opened = crowds.ask("open", (max(1, inflight // processes), timeout, retries))
        received = _settled_bytes(crowds)
        elapsed = time.monotonic() - started
        cpu = bench.cpu_seconds() - cpu_before
        load_cpu = crowds.cpu_seconds() - load_before
    finally:
        crowds.close()
    first = min(part["first"] for part in opened if part["first"] is not None)
    ready = sorted(t - first for part in opened for t in part["ready"])
    failed = sum(part["failed"] for part in opened)
    presence = received["presence"]
    last = ready[-1] if ready else float("nan")
    result = {
        "server": bench.name,
        "workload": "storm-tabs" if tabs else "storm",
        "sockets": sockets,
        "rooms_per_socket": len(slugs) if tabs else 1,
        "inflight": inflight,
        "ready": len(ready),
        "failed": failed,
        "attempts_failed": sum(part["attempts_failed"] for part in opened),
        "failures": [f for part in opened for f in part["failures"]][:5],
        "connects_per_second": round(len(ready) / last, 1) if ready else 0,
        "last_ready_seconds": round(last, 2),
        "presence_bytes_per_socket_mean": round(sum(presence) / len(presence)),
        "presence_bytes_per_socket_max": max(presence),
        "bytes_received": sum(received["bytes"]),
        "server_cpu_ms_per_connect": round(cpu / len(ready) * 1e3, 2) if ready else None,
        "server_cpu_seconds": round(cpu, 1),
        "load_generator_cpu_percent": round(load_cpu / elapsed * 100),
        "ready_timeline": _sample(ready, 200),
    }
    shown = {k: v for k, v in result.items() if k != "ready_timeline"}
    say(f"{bench.name}: {json.dumps(shown)}")
    return result


def _settled_bytes(crowds: Crowds) -> dict[str, list[int]]:
    """Bytes received per socket, once presence has stopped arriving (at most 30 s)."""
    total, parts = -1, []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        parts = crowds.ask("bytes")
        now = sum(sum(part["bytes"]) for part in parts)
        if now == total:
            break
        total = now
        time.sleep(1.5)
    return {
        "bytes": [b for part in parts for b in part["bytes"]],
        "presence": [b for part in parts for b in part["presence"]],
    }


def _sample(values: list[float], points: int) -> list[list[float]]:
    """(seconds, sockets ready by then) at about `points` places along the sorted `values`."""
    if not values:
        return []
    every = max(1, len(values) // points)
    picks = list(range(0, len(values), every)) + [len(values) - 1]
    return [[round(values[i], 3), i + 1] for i in sorted(set(picks))]


# Rooms --------------------------------------------------------------------------------


def rooms(
    bench,
    *,
    rooms: int,
    per_room: int,
    processes: int,
    step_seconds: float,
    steady_seconds: float,
    rates: list[int],
) -> dict:
    ours = bench.target.dialect == "ours"
    names = [f"r{n:04d}" for n in range(rooms)]
    cookies, slugs = bench.prepare(rooms * per_room, names)
    seats = [
        Seat(bench.room_url(slugs[n // per_room]), cookie, n // per_room, readies=1 if ours else 0)
        for n, cookie in enumerate(cookies)
    ]
    heads = bench.heads() if ours else None
    crowds = _crowds(bench, seats, processes)
    result: dict = {"server": bench.name, "rooms": rooms, "sockets_per_room": per_room, "steps": []}
    try:
        # Not a storm: a handshake or so per process at a time, so that none waits out
        # daphne's 5 s even on a busy machine (a dropped one still costs the server its work).
        opened = crowds.ask("open", (max(1, ROOMS_INFLIGHT // processes), 120, 3))
        result["failed_to_open"] = sum(part["failed"] for part in opened)
        say(f"{bench.name}: {len(seats)} sockets in {rooms} rooms open")
        time.sleep(2)

        def head() -> int | None:
            return sum(heads.read(slugs).values()) if heads else None

        for step, rate in enumerate(rates):
            row = _rooms_step(bench, crowds, head, step, rate, step_seconds, per_room)
            result["steps"].append(row)
            say(f"{bench.name}: {json.dumps(row)}")
            # Saturated: it fell behind (a tenth undelivered, or p99 over 2 s).
            if row["delivered_fraction"] < 0.9 or row["p99_ms"] > 2000:
                break
        _settled_bytes(crowds)  # the last step's backlog is out before loss is counted
        result.update(_loss(crowds, heads, slugs))
        steady = _rooms_step(bench, crowds, head, STEADY_STEP, 10, steady_seconds, per_room)
        result["steady"] = steady
        say(f"{bench.name}: steady {json.dumps(steady)}")
        doubled, errors = map(sum, zip(*crowds.ask("faults"), strict=True))
        result["doubled"], result["error_frames"] = doubled, errors
    finally:
        crowds.close()
        if heads:
            heads.close()
    sustained = [s for s in result["steps"] if s["p99_ms"] < 100 and s["delivered_fraction"] > 0.99]
    best = max(sustained, key=lambda s: s["offered_per_second"]) if sustained else None
    result["sustained"] = best and (best["persisted_per_second"] or best["offered_per_second"])
    return result


def _rooms_step(bench, crowds: Crowds, head, step: int, rate: float, seconds: float,
                per_room: int) -> dict:  # fmt: skip
    before = head()
    cpu_before, load_before = bench.cpu_seconds(), crowds.cpu_seconds()
    started = time.monotonic()
    # The step's messages dealt to the processes by their share of the sockets.
    total, processes = round(rate * seconds), len(crowds.pipes)
    seats = [len(range(n, crowds.count, processes)) for n in range(processes)]
    dealt = [total * sum(seats[: n + 1]) // crowds.count for n in range(processes)]
    counts = [dealt[0], *(b - a for a, b in itertools.pairwise(dealt))]
    sent = sum(crowds.ask("send", each=lambda n: (counts[n], seconds, step)))
    time.sleep(2)  # let the queues drain
    parts = [part.get(step) for part in crowds.ask("take")]
    elapsed = time.monotonic() - started
    cpu = bench.cpu_seconds() - cpu_before
    load_cpu = crowds.cpu_seconds() - load_before
    # Read after the CPU figures, so that the reading is not counted in them.
    persisted = head() - before if before is not None else None
    latencies = [latency for part in parts if part for latency in part[0]]
    windows = [part[1] for part in parts if part]
    span = (max(w[1] for w in windows) - min(w[0] for w in windows)) / 1e9 if windows else 0
    expected = sent * (per_room - 1)
    per_message = persisted if persisted is not None else sent
    return {
        "offered_per_second": rate,
        "messages_sent": sent,
        "persisted_per_second": round(persisted / max(span, seconds), 1)
        if persisted is not None
        else None,
        "delivered_fraction": round(len(latencies) / expected, 4) if expected else 0,
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "server_cpu_ms_per_message": round(cpu / per_message * 1e3, 2) if per_message else None,
        "server_cpu_percent": round(cpu / elapsed * 100),
        "load_generator_cpu_percent": round(load_cpu / elapsed * 100),
    }


def _loss(crowds: Crowds, heads, slugs: list[str]) -> dict:
    """Lost deliveries: for this app after resuming from the rooms' settled heads; for the
    others, raw (they cannot resume)."""
    if heads is None:
        sent: dict[int, list[int]] = {}
        for part in crowds.ask("sent"):
            for room, key in part:
                sent.setdefault(room, []).append(key)
        lost = sum(crowds.ask("raw", sent))
        return {"lost_before_resume": lost, "lost": lost, "messages_acknowledged": None}
    settled = heads.read(slugs)
    while True:
        time.sleep(3)  # a server starved of CPU can pause for a second with work queued
        later = heads.read(slugs)
        if later == settled:
            break
        settled = later
    by_room = {n: settled.get(slug, 0) for n, slug in enumerate(slugs)}
    parts = crowds.ask("resume", by_room)
    return {
        "messages_acknowledged": sum(by_room.values()),
        "lost_before_resume": sum(p[0] for p in parts),
        "lost": sum(p[1] for p in parts),
    }


# Reporting ----------------------------------------------------------------------------


def storm_table(results: list[dict]) -> str:
    lines = [
        "| Server | Workload | Sockets | Ready | Never ready | Failed attempts | Connects/s | "
        "Last ready | "
        "Presence bytes per socket (mean / max) | Bytes received | Server CPU per connect | "
        "Generator CPU |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['server']} | {r['workload']} | {r['sockets']:,} | {r['ready']:,} | "
            f"{r['failed']} | {r.get('attempts_failed', 0):,} | {r['connects_per_second']:,} | "
            f"{r['last_ready_seconds']} s | "
            f"{r['presence_bytes_per_socket_mean']:,} / {r['presence_bytes_per_socket_max']:,} | "
            f"{r['bytes_received']:,} | {r['server_cpu_ms_per_connect']} ms | "
            f"{r['load_generator_cpu_percent']} % |"
        )
    return "\n".join(lines)


def rooms_table(results: list[dict]) -> str:
    lines = [
        "| Server | Sustained msgs/s (p99 < 100 ms) | Lost before resume | Lost | Doubled | "
        "Steady p99 | Steady max |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        steady = r.get("steady") or {}
        resumable = r["messages_acknowledged"] is not None
        lines.append(
            f"| {r['server']} | {r['sustained'] or '—'} | {r['lost_before_resume']:,} | "
            f"{r['lost'] if resumable else '— (raw: ' + format(r['lost'], ',') + ')'} | "
            f"{r['doubled']} | {steady.get('p99_ms')} ms | {steady.get('max_ms')} ms |"
        )
    lines += [
        "",
        "| Server | Offered msgs/s | Persisted msgs/s | Delivered | p50 | p95 | p99 | max | "
        "Server CPU per message | Server CPU | Generator CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        for s in r["steps"]:
            lines.append(
                f"| {r['server']} | {s['offered_per_second']:,} | "
                f"{s['persisted_per_second'] if s['persisted_per_second'] is not None else '—'} | "
                f"{s['delivered_fraction']:.1%} | {s['p50_ms']} | {s['p95_ms']} | "
                f"{s['p99_ms']} | {s['max_ms']} | {s['server_cpu_ms_per_message']} ms | "
                f"{s['server_cpu_percent']} % | {s['load_generator_cpu_percent']} % |"
            )
    return "\n".join(lines)


def storm_plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for r in results:
        timeline = r["ready_timeline"]
        axes.plot([t for t, _n in timeline], [n for _t, n in timeline],
                  label=f"{r['server']} {r['workload']}")  # fmt: skip
    axes.set_xlabel("seconds since the first handshake")
    axes.set_ylabel("sockets ready")
    axes.set_title(f"Connect storm: {results[0]['sockets']:,} sockets, "
                   f"{results[0]['inflight']} handshakes in flight")  # fmt: skip
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def rooms_plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for r in results:
        steps = r["steps"]
        axes.plot([s["offered_per_second"] for s in steps], [s["p99_ms"] for s in steps],
                  marker="o", label=r["server"])  # fmt: skip
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("offered messages per second (all rooms)")
    axes.set_ylabel("p99 latency (ms)")
    axes.set_title(f"{results[0]['rooms']} rooms of {results[0]['sockets_per_room']} sockets")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
