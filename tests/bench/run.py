"""`make bench`: start each server, load it, and report. See docs/performance.md.

    python -m tests.bench.run [--workload fanout,storm,rooms]
                              [--servers ceiling,baseline,embedded,redis,scaled]
                              [--sockets 1000] [--idle 10000] [--out bench-results]
                              [--storm-sockets 2000] [--storm-inflight 100]
                              [--rooms 200] [--room-sockets 5] [--steady-seconds 40]

Servers:
  ceiling   a bare `websockets` broadcast server (tests/bench/ceiling.py)
  baseline  the Channels tutorial's consumer on daphne + the in-memory layer
  embedded  this app: one daphne, SQLite, the in-memory layer
  embedded@REV  the same, serving the code of commit REV (checked out aside),
            to compare a change with what it changes in the same run
  redis     this app: PostgreSQL + Redis, one daphne behind nginx (the compose topology)
  scaled    this app: PostgreSQL + Redis, two daphne replicas behind nginx

Workloads (each on a freshly started server):
  fanout    N sockets join one room, then a sender sends at stepped rates (each
            step `--step-seconds` long) until the server saturates; then idle
            memory. Every message of this app is persisted.
  storm     2,000 sockets open into one room, at most 100 handshakes in flight;
            then (this app) the same on /ws/, each socket joining 20 rooms
            (`storm-tabs` runs that half alone). tests/bench/workloads.py.
  rooms     200 rooms of 5 sockets, all sending, the aggregate rate stepped up;
            then loss after resuming, and 10 msgs/s held across heartbeats.

Results go to <out>/results.json (the workloads not run keep their last
figures), <out>/results.md (a table per workload), and the plots
<out>/latency.png (fan-out), storm-ready.png and rooms-latency.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from tests.bench import workloads
from tests.bench.load import Receivers, Target, send
from tests.support.harness import REPO, DaphneServer, ServerProcess, _spawn, app_env, free_port
from tests.support.topology import NativeTopology

RATES = [1, 2, 3, 5, 8, 12, 16, 20, 25, 30, 40, 50, 65, 80, 100, 120, 160, 200, 300]
# Lift the abuse limits for the benchmark's one sending socket, and for its
# thousands of receiving sockets, all one user's from one address.
BENCH_ENV = {
    "SOCKETS_PER_USER": "1000000000",
    "SOCKETS_PER_ADDRESS": "1000000000",
    "CHAT_SEND_LIMIT": "1000000000",
    "CHAT_CHANGE_LIMIT": "1000000000",
    "WEBSOCKET_FLOOD_BURST": "1000000000",
    "WEBSOCKET_FLOOD_RATE": "1000000000",
}
ALL = ["ceiling", "baseline", "embedded", "redis", "scaled"]


# Servers ------------------------------------------------------------------------------


class Bench:
    """A server under test: its target, its processes (for CPU and memory), and stop().

    For the storm and rooms workloads also: `prepare` makes users and rooms,
    `room_url` is a room's socket, and `heads` reads the rooms' committed heads
    (this app only: the others persist nothing).
    """

    name: str
    target: Target
    ws_base: str  # ws://host:port
    env: dict[str, str]  # the environment its management scripts run with
    tree: Path = REPO

    def prepare(self, users: int, rooms: list[str]) -> tuple[list[str | None], list[str]]:
        """Session cookies of `users` users, and the slugs of `rooms`."""
        answer = _run_prepare(self.env, ["--users", str(users), "--rooms", ",".join(rooms)],
                              self.tree)  # fmt: skip
        return answer["cookies"], answer["rooms"]

    def room_url(self, slug: str) -> str:
        return f"{self.ws_base}/ws/chat/{slug}/"

    def heads(self) -> Heads | None:
        return Heads(self.env, self.tree)

    def processes(self) -> list[psutil.Process]:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        total = 0.0
        for process in self.processes():
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total

    def rss(self) -> int:
        total = 0
        for process in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


class Spawned(Bench):
    def __init__(self, name: str, argv: list[str], env: dict, path: str, dialect: str) -> None:
        self.name = name
        port = free_port()
        argv = [arg.replace("{port}", str(port)) for arg in argv]
        log = Path(tempfile.mkdtemp(prefix=f"bench-{name}-")) / "server.log"
        self.server = ServerProcess(_spawn(argv, log, cwd=REPO, env=env), log)
        self.server.name = name
        origin = f"http://127.0.0.1:{port}"
        self.server.wait_until(lambda: _listening(port), "listening")
        self.target = Target(url=f"ws://127.0.0.1:{port}{path}", dialect=dialect, origin=origin)
        self.ws_base = f"ws://127.0.0.1:{port}"
        self.env = env

    def processes(self):
        return _tree(self.server.pid)

    def stop(self):
        self.server.stop()

    def prepare(self, users: int, rooms: list[str]) -> tuple[list[str | None], list[str]]:
        if self.target.dialect == "ceiling":
            return [None] * users, rooms
        answer = _run_prepare(self.env, ["--users", str(users), "--plain"])
        return answer["cookies"], rooms

    def room_url(self, slug: str) -> str:
        if self.target.dialect == "ceiling":
            return f"{self.ws_base}/{slug}/"
        return super().room_url(slug)

    def heads(self) -> Heads | None:
        return None


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def ceiling() -> Bench:
    argv = [sys.executable, "-m", "tests.bench.ceiling", "--port", "{port}"]
    return Spawned("ceiling", argv, dict(os.environ), "/", "ceiling")


def baseline() -> Bench:
    database = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / "db.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.bench.baseline.settings",
        "BENCH_BASELINE_DATABASE": str(database),
    }
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v0"], cwd=REPO, env=env,
                   check=True)  # fmt: skip
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "{port}",
            "tests.bench.baseline.asgi:application"]  # fmt: skip
    return Spawned("baseline", argv, env, "/ws/chat/bench/", "tutorial")


def _prepare(env: dict, room: str, tree: Path = REPO) -> dict:
    return _run_prepare(env, [room], tree)


def _run_prepare(env: dict, arguments: list[str], tree: Path = REPO) -> dict:
    # The bench's own scripts come from this checkout, whichever tree's code is served.
    env = {**env, "PYTHONPATH": os.pathsep.join([str(tree), str(REPO)])}
    result = subprocess.run(
        [sys.executable, "-m", "tests.bench.prepare", *arguments],
        cwd=tree, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


class Heads:
    """A process beside the server reading its rooms' committed heads (tests/bench/heads.py)."""

    def __init__(self, env: dict, tree: Path = REPO) -> None:
        env = {**env, "PYTHONPATH": os.pathsep.join([str(tree), str(REPO)])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.heads"], cwd=tree, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def read(self, slugs: list[str]) -> dict[str, int]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(",".join(slugs) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(10)


UVICORN = [
    "-m", "uvicorn", "project.asgi:application", "--host", "127.0.0.1", "--port", "{port}",
    "--loop", "uvloop", "--ws", "websockets", "--ws-max-size", "65536",
    "--ws-ping-interval", "20", "--ws-ping-timeout", "30", "--no-access-log",
]  # fmt: skip


class Embedded(Bench):
    """This app on SQLite and the in-memory layer, served by daphne (or uvicorn)."""

    def __init__(self, server: str = "daphne", revision: str | None = None) -> None:
        self.name = "embedded" if server == "daphne" else f"embedded-{server}"
        self.base = Path(tempfile.mkdtemp(prefix="bench-embedded-"))
        self.tree = REPO
        if revision is not None:
            self.name = f"embedded@{revision}"
            self.tree = self.base / "tree"
            subprocess.run(
                ["git", "worktree", "add", "--quiet", "--detach", str(self.tree), revision],
                cwd=REPO, check=True,
            )  # fmt: skip
        env = {"DATABASE_URL": f"sqlite:///{self.base / 'db.sqlite3'}", **BENCH_ENV}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            cwd=self.tree, env=app_env(env), check=True,
        )  # fmt: skip
        self.env = app_env(env)
        room = _prepare(self.env, "bench", self.tree)
        if server == "daphne":
            self.server = DaphneServer.start(
                env=env, log_path=self.base / "daphne.log", tree=self.tree
            )
            url, origin = self.server.ws_url, self.server.origin
        else:
            port = free_port()
            argv = [sys.executable, *(arg.replace("{port}", str(port)) for arg in UVICORN)]
            log = self.base / "uvicorn.log"
            self.server = ServerProcess(_spawn(argv, log, cwd=REPO, env=app_env(env)), log)
            self.server.wait_until(lambda: _listening(port), "listening")
            url, origin = f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}"
        self.ws_base = url
        self.target = Target(
            url=f"{url}/ws/chat/{room['room']}/",
            dialect="ours",
            origin=origin,
            cookie=room["cookie"],
        )

    def processes(self):
        return _tree(self.server.pid)

    def stop(self):
        self.server.stop()
        if self.tree != REPO:
            subprocess.run(["git", "worktree", "remove", "--force", str(self.tree)], cwd=REPO)


class Topology(Bench):
    def __init__(self, name: str, replicas: int) -> None:
        self.name = name
        self.topology = NativeTopology(replicas=replicas, extra_env=BENCH_ENV).start()
        self.env = self.topology.app_env("migrate")
        room = _prepare(self.env, "bench")
        self.ws_base = self.topology.url.replace("https", "wss")
        self.target = Target(
            url=self.ws_base + f"/ws/chat/{room['room']}/",
            dialect="ours",
            origin=self.topology.url,
            cookie=room["cookie"],
        )

    def processes(self):
        return [p for service in self.topology.services for p in _tree(service.pid)]

    def stop(self):
        self.topology.stop()


FACTORIES = {
    "ceiling": ceiling,
    "baseline": baseline,
    "embedded": Embedded,
    "embedded-uvicorn": lambda: Embedded("uvicorn"),
    "redis": lambda: Topology("redis", 1),
    "scaled": lambda: Topology("scaled", 2),
}


# Measuring ----------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@contextlib.contextmanager
def connected(name: str, sockets: int, processes: int):
    """Start server `name` and connect `sockets` to its room: (server, receivers, seconds, RSS
    before connecting). Everything is stopped on the way out."""
    kind, _, revision = name.partition("@")
    bench = Embedded(revision=revision) if kind == "embedded" and revision else FACTORIES[name]()
    receivers = None
    try:
        time.sleep(1)
        rss_before = bench.rss()
        receivers = Receivers(bench.target, sockets, processes)
        yield bench, receivers, receivers.connect(), rss_before
    finally:
        if receivers is not None:
            receivers.close()
        bench.stop()


def measure(name: str, sockets: int, processes: int, step_seconds: float) -> dict:
    result: dict = {"server": name, "sockets": sockets, "steps": []}
    with connected(name, sockets, processes) as (bench, receivers, connect_seconds, rss_before):
        result["connects_per_second"] = round(sockets / connect_seconds, 1)
        time.sleep(3)
        result["rss_per_idle_socket_kib"] = round((bench.rss() - rss_before) / sockets / 1024, 1)
        say(f"{name}: {sockets} sockets in {connect_seconds:.1f} s")

        sent_total, best = 0, 0.0
        ours = bench.target.dialect == "ours"
        for step, rate in enumerate(RATES):
            head_before = stream_head(bench.target) if ours else 0
            cpu_before, load_before = bench.cpu_seconds(), receivers.cpu_seconds()
            started = time.monotonic()
            sent, _sender_cpu = send(bench.target, rate, step_seconds, step, sent_total)
            sent_total += sent
            time.sleep(2)  # let the queues drain
            latencies, span = receivers.take(step)
            elapsed = time.monotonic() - started
            expected = sent * sockets
            delivered = len(latencies)
            throughput = delivered / max(span, step_seconds)
            cpu = bench.cpu_seconds() - cpu_before
            load_cpu = receivers.cpu_seconds() - load_before
            # Committed during the step (and its drain), over the same window as deliveries;
            # read after the CPU figures, so the socket that reads it is not counted in them.
            persisted = stream_head(bench.target) - head_before if ours else None
            row = {
                "offered_per_second": rate * sockets,
                "delivered_per_second": round(throughput),
                "delivered_fraction": round(delivered / expected, 4) if expected else 0,
                "p50_ms": round(percentile(latencies, 0.50), 1),
                "p95_ms": round(percentile(latencies, 0.95), 1),
                "p99_ms": round(percentile(latencies, 0.99), 1),
                "max_ms": round(max(latencies), 1) if latencies else None,
                "server_cpu_us_per_delivery": round(cpu / delivered * 1e6, 1)
                if delivered
                else None,
                "server_cpu_percent": round(cpu / elapsed * 100),
                "load_generator_cpu_percent": round(load_cpu / elapsed * 100),
                "messages_per_second": round(sent / step_seconds, 1),
                "persisted_per_second": round(persisted / max(span, step_seconds), 1)
                if ours
                else None,
            }
            result["steps"].append(row)
            say(f"{name}: {json.dumps(row)}")
            best = max(best, throughput)
            # Saturated: it fell behind (a tenth undelivered, or p99 over 2 s).
            if row["delivered_fraction"] < 0.9 or row["p99_ms"] > 2000:
                break
        result["peak_deliveries_per_second"] = round(best)
        # This app acknowledges a message by committing it: the stream's head
        # is what every socket must end with. (A message still unread in the
        # server's queue when the sender hung up was never acknowledged; the
        # real client resends those with the same client_id.)
        expected = settled_head(bench.target) if bench.target.dialect == "ours" else sent_total
        missing_before, missing_after = receivers.resume(expected)
        result["messages_sent"] = sent_total
        result["messages_acknowledged"] = expected
        result["lost_before_resume"] = missing_before
        result["lost"] = missing_after
    return result


def stream_head(target: Target) -> int:
    """The room's head seq, as a new socket's `stream.ready` reports it."""

    async def ask() -> int:
        async with target.open() as socket:
            while (frame := json.loads(await socket.recv()))["type"] != "stream.ready":
                pass
            return frame["seq"]

    return asyncio.run(ask())


def settled_head(target: Target) -> int:
    """The head once the server has worked through every frame sent: it stopped moving."""
    head = stream_head(target)
    while True:
        time.sleep(1)
        later = stream_head(target)
        if later == head:
            return head
        head = later


def measure_idle(name: str, sockets: int, processes: int) -> dict:
    """Hold `sockets` idle sockets on one server process; report its memory."""
    with connected(name, sockets, processes) as (bench, _receivers, seconds, rss_before):
        time.sleep(5)
        rss = bench.rss()
        return {
            "server": name,
            "idle_sockets": sockets,
            "connect_seconds": round(seconds, 1),
            "rss_mib": round(rss / 2**20),
            "rss_per_idle_socket_kib": round((rss - rss_before) / sockets / 1024, 1),
        }


# Reporting ----------------------------------------------------------------------------


def table(results: list[dict]) -> str:
    lines = [
        "| Server | Peak deliveries/s | p99 at 5,000/s | Server CPU per delivery | "
        "Persisted msgs/s | RSS per idle socket | Connects/s | Lost |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        at_5k = next((s for s in result["steps"] if s["offered_per_second"] >= 5000), None)
        busiest = max(result["steps"], key=lambda s: s["delivered_per_second"])
        lines.append(
            f"| {result['server']} | {result['peak_deliveries_per_second']:,} | "
            f"{str(at_5k['p99_ms']) + ' ms' if at_5k else '—'} | "
            f"{busiest['server_cpu_us_per_delivery']} µs | "
            f"{busiest.get('persisted_per_second') or '—'} | "
            f"{result['rss_per_idle_socket_kib']} KiB | {result['connects_per_second']:,} | "
            f"{result['lost']} |"
        )
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for result in results:
        steps = result["steps"]
        axes.plot(
            [s["offered_per_second"] for s in steps],
            [s["p99_ms"] for s in steps],
            marker="o",
            label=result["server"],
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("offered deliveries per second")
    axes.set_ylabel("p99 latency (ms)")
    axes.set_title(f"One room of {results[0]['sockets']:,} sockets")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def say(*text, **kwargs) -> None:
    """The benchmark's progress and results, on standard output."""
    sys.stdout.write(" ".join(str(t) for t in text) + "\n")
    sys.stdout.flush()


def start(name: str) -> Bench:
    kind, _, revision = name.partition("@")
    return Embedded(revision=revision) if kind == "embedded" and revision else FACTORIES[name]()


def run_storm(arguments, report: dict) -> None:
    forms = [False, True] if "storm" in arguments.workloads else [True]
    # A server run again replaces its own figures; the other servers' stay.
    servers = arguments.servers.split(",")
    run = {"storm-tabs" if tabs else "storm" for tabs in forms}
    results = report["storm"] = [
        r for r in report.get("storm", []) if r["server"] not in servers or r["workload"] not in run
    ]
    for tabs in forms:
        for name in arguments.servers.split(","):
            try:
                bench = start(name)
            except Exception as error:
                say(f"{name}: failed to start: {error!r}")
                continue
            try:
                if tabs and bench.target.dialect != "ours":
                    continue  # only this app has the multiplexed socket
                time.sleep(1)
                results.append(
                    workloads.storm(
                        bench,
                        sockets=arguments.storm_sockets,
                        inflight=arguments.storm_inflight,
                        processes=arguments.processes,
                        tabs=tabs,
                        timeout=arguments.storm_timeout,
                        retries=arguments.storm_retries,
                    )
                )
            except Exception as error:  # one server failing must not lose the others' figures
                say(f"{name}: storm failed: {error!r}")
            finally:
                bench.stop()
            _write(arguments.out, report)


def run_rooms(arguments, report: dict) -> None:
    servers = arguments.servers.split(",")
    results = report["rooms"] = [r for r in report.get("rooms", []) if r["server"] not in servers]
    rates = [int(rate) for rate in arguments.room_rates.split(",")]
    for name in arguments.servers.split(","):
        try:
            bench = start(name)
        except Exception as error:
            say(f"{name}: failed to start: {error!r}")
            continue
        try:
            time.sleep(1)
            results.append(
                workloads.rooms(
                    bench,
                    rooms=arguments.rooms,
                    per_room=arguments.room_sockets,
                    processes=arguments.processes,
                    step_seconds=arguments.step_seconds,
                    steady_seconds=arguments.steady_seconds,
                    rates=rates,
                )
            )
        except Exception as error:  # one server failing must not lose the others' figures
            say(f"{name}: rooms failed: {error!r}")
        finally:
            bench.stop()
        _write(arguments.out, report)


def _write(out: Path, report: dict) -> None:
    (out / "results.json").write_text(json.dumps(report, indent=2))


def report_text(report: dict) -> str:
    """results.md: one table per workload that has results."""
    parts = []
    if report.get("results"):
        parts.append("## fanout\n\n" + table(report["results"]))
    if report.get("idle"):
        text = "| Server | Idle sockets | RSS | RSS per idle socket |\n"
        text += "| --- | ---: | ---: | ---: |\n"
        text += "\n".join(
            f"| {i['server']} | {i['idle_sockets']:,} | {i['rss_mib']} MiB | "
            f"{i['rss_per_idle_socket_kib']} KiB |"
            for i in report["idle"]
        )
        parts.append("## idle\n\n" + text)
    if report.get("storm"):
        parts.append("## storm\n\n" + workloads.storm_table(report["storm"]))
    if report.get("rooms"):
        parts.append("## rooms\n\n" + workloads.rooms_table(report["rooms"]))
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="fanout,storm,rooms",
                        help="fanout, storm, storm-tabs, rooms (comma-separated)")  # fmt: skip
    parser.add_argument("--servers", default=",".join(ALL))
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4, help="receiver processes")
    parser.add_argument("--step-seconds", type=float, default=5.0)
    parser.add_argument("--idle", type=int, default=10_000, help="idle sockets (0: skip)")
    parser.add_argument("--storm-sockets", type=int, default=2000)
    parser.add_argument("--storm-inflight", type=int, default=100)
    parser.add_argument("--storm-timeout", type=float, default=60,
                        help="seconds a storm's socket may take to be ready")  # fmt: skip
    parser.add_argument("--storm-retries", type=int, default=0,
                        help="times a storm's socket tries again after failing")  # fmt: skip
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--room-sockets", type=int, default=5)
    parser.add_argument("--room-rates", default=",".join(map(str, workloads.ROOM_RATES)))
    parser.add_argument("--steady-seconds", type=float, default=40)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results")
    arguments = parser.parse_args()
    arguments.workloads = set(arguments.workload.split(","))
    unknown = arguments.workloads - {"fanout", "storm", "storm-tabs", "rooms"}
    if unknown:
        parser.error(f"unknown workload: {', '.join(sorted(unknown))}")
    arguments.out.mkdir(parents=True, exist_ok=True)

    machine = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "memory_gib": round(psutil.virtual_memory().total / 2**30),
    }
    # A run of one workload keeps the others' figures from the last run.
    path = arguments.out / "results.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    report["machine"] = machine
    if arguments.workloads & {"storm", "storm-tabs"}:
        run_storm(arguments, report)
        if report["storm"]:
            workloads.storm_plot(report["storm"], arguments.out / "storm-ready.png")
    if "rooms" in arguments.workloads:
        run_rooms(arguments, report)
        if report["rooms"]:
            workloads.rooms_plot(report["rooms"], arguments.out / "rooms-latency.png")
    if "fanout" in arguments.workloads:
        run_fanout(arguments, report)
    _write(arguments.out, report)
    (arguments.out / "results.md").write_text(report_text(report) + "\n")
    say(report_text(report))
    say(f"\nwritten: {arguments.out}/results.json, results.md and the plots")


def run_fanout(arguments, report: dict) -> None:
    results = []
    for name in arguments.servers.split(","):
        try:
            results.append(
                measure(name, arguments.sockets, arguments.processes, arguments.step_seconds)
            )
        except Exception as error:  # one server failing must not lose the others' figures
            say(f"{name}: failed: {error!r}")
    report["results"], report["idle"] = results, []
    _write(arguments.out, report)
    idle = report["idle"]
    if arguments.idle:
        for name in ("baseline", "embedded"):
            try:
                idle.append(measure_idle(name, arguments.idle, arguments.processes))
            except Exception as error:
                say(f"{name}: {arguments.idle} idle sockets failed: {error!r}")
        _write(arguments.out, report)
    if results:
        plot(results, arguments.out / "latency.png")
    by_name = {r["server"]: r["peak_deliveries_per_second"] for r in results}
    if "baseline" in by_name and "embedded" in by_name:
        say(f"embedded / baseline: {by_name['embedded'] / by_name['baseline']:.1f}×")
    if "ceiling" in by_name and "embedded" in by_name:
        say(f"embedded / ceiling: {by_name['embedded'] / by_name['ceiling']:.0%}")
    if "redis" in by_name and "scaled" in by_name:
        say(f"scaled / redis: {by_name['scaled'] / by_name['redis']:.2f}×")


if __name__ == "__main__":
    main()
