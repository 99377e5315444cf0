"""Real servers for the suite: Redis, PostgreSQL and daphne, on loopback, stopped by pid.

Each server is a child process in its own session (so a Ctrl-C in the terminal
reaches pytest, which then stops them in order), logging to a file that a
failing test shows. Readiness is always polled (a PING, a connection, a 200 from
/healthz), never assumed after a sleep.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# A bound for a start that will not happen, not a measure: `make run` migrates and
# loads the demo data first, on a machine whose cores the suite's workers share.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
STACK_DUMP_TIMEOUT = 5.0
POLL = 0.02

# Children still running, so that an interrupted session does not leave them behind.
_running: dict[int, ServerProcess] = {}


def _stop_leftovers() -> None:
    for server in list(_running.values()):
        server.stop()


atexit.register(_stop_leftovers)


def free_port() -> int:
    """A port that was free a moment ago (callers that cannot adopt a socket retry on a clash)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(path: Path, limit: int = 20_000) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return text if len(text) <= limit else "...\n" + text[-limit:]


class ServerError(RuntimeError):
    """A server did not start; the message carries its log."""


class ServerProcess:
    """One child process with a log file, stopped by pid with the signal it shuts down on."""

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, process: subprocess.Popen, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path
        _running[process.pid] = self

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return _tail(self.log_path)

    def fail(self, reason: str) -> ServerError:
        return ServerError(f"{self.name} (pid {self.pid}) {reason}\n--- log ---\n{self.log()}")

    def stop(self) -> None:
        """Stop the process and remove what it left on disk."""
        self.terminate()
        self.cleanup()

    def terminate(self) -> None:
        """Signal the process and wait for it; SIGKILL if it does not go in time."""
        if self.running:
            try:
                os.kill(self.pid, self.stop_signal)
                self.process.wait(STOP_TIMEOUT)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                self._dump_stacks()
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait()
        _running.pop(self.pid, None)

    def _dump_stacks(self) -> None:
        """Ask a stuck Python process for its threads' stacks (faulthandler, into its log)."""
        args = self.process.args
        if not (isinstance(args, list) and Path(args[0]).name.startswith("python")):
            return
        try:
            os.kill(self.pid, signal.SIGABRT)
            self.process.wait(STACK_DUMP_TIMEOUT)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass

    def cleanup(self) -> None:
        """Remove what the server left on disk."""

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        """Poll `ready` until it holds; on failure stop the process and raise with its log."""
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if not self.running:
                error = self.fail(f"exited with {self.process.returncode} before {what}")
            elif time.monotonic() > deadline:
                self.terminate()
                error = self.fail(f"was not {what} after {START_TIMEOUT:.0f} s")
            else:
                time.sleep(POLL)
                continue
            self.terminate()
            raise error


def _spawn(argv: list[str], log_path: Path, **kwargs) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kwargs,
        )


# Redis ---------------------------------------------------------------------------


class RedisServer(ServerProcess):
    """redis-server on a unix socket in a fresh directory: no port to race for."""

    name = "redis-server"

    def __init__(self, process: subprocess.Popen, log_path: Path, directory: Path) -> None:
        super().__init__(process, log_path)
        self.directory = directory
        self.socket_path = directory / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @classmethod
    def start(cls, directory: Path | None = None) -> RedisServer:
        """A new redis-server; in `directory` (and on its socket) if given, else a fresh one."""
        directory = directory or Path(tempfile.mkdtemp(prefix="redis-"))
        log_path = directory / "redis.log"
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--port", "0",
            "--unixsocket", str(directory / "redis.sock"),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(directory),
            "--logfile", "",
        ]  # fmt: skip
        server = cls(_spawn(argv, log_path), log_path, directory)
        try:
            server.wait_until(server.answers_ping, "answering PING")
        except ServerError:
            server.cleanup()
            raise
        return server

    def command(self, *words: str) -> bytes:
        """Send one inline command and return the first reply line."""
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(5)
            client.connect(str(self.socket_path))
            client.sendall(" ".join(words).encode() + b"\r\n")
            return client.recv(4096).split(b"\r\n", 1)[0]

    def answers_ping(self) -> bool:
        try:
            return self.command("PING") == b"+PONG"
        except OSError:
            return False

    # Faults: each returns once the fault is in place.

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing is answered, as on a stalled host."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL, keeping the directory for a restart: whatever Redis held is gone."""
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait()
        _running.pop(self.pid, None)
        self.socket_path.unlink(missing_ok=True)

    def restart(self) -> None:
        """A new, empty redis-server on the same socket, answering PING when this returns."""
        self.process = RedisServer.start(self.directory).process
        _running[self.pid] = self

    def flushall(self) -> None:
        reply = self.command("FLUSHALL")
        if reply != b"+OK":
            raise self.fail(f"answered FLUSHALL with {reply!r}")

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


# PostgreSQL ----------------------------------------------------------------------


def postgres_bindir() -> Path:
    for candidate in (
        Path("/usr/lib/postgresql/15/bin"),
        *sorted(Path("/usr/lib/postgresql").glob("*/bin")),
    ):
        if (candidate / "postgres").exists():
            return candidate
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise ServerError("PostgreSQL server binaries not found (apt-get install postgresql-15).")


def _as_postgres_user() -> dict:
    """PostgreSQL refuses to run as root: run it as the `postgres` system user then."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


class PostgresServer(ServerProcess):
    """A throwaway cluster: initdb into a temporary directory, fsync off, trust auth."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back sessions, exit now

    def __init__(self, process: subprocess.Popen, log_path: Path, base: Path, port: int) -> None:
        super().__init__(process, log_path)
        self.base = base
        self.port = port
        self.host = "127.0.0.1"
        self.user = "postgres"
        self.argv: list[str] = []

    def url(self, database: str) -> str:
        return f"postgres://{self.user}@{self.host}:{self.port}/{database}"

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = postgres_bindir()
        # The base stays traversable; the data directory belongs to postgres alone.
        base = Path(tempfile.mkdtemp(prefix="postgres-"))
        base.chmod(0o755)
        data = base / "data"
        data.mkdir(mode=0o700)
        as_postgres = _as_postgres_user()
        if as_postgres:
            shutil.chown(data, "postgres", "postgres")
        argv = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]  # fmt: skip
        initdb = subprocess.run(
            argv,
            cwd=data,
            capture_output=True,
            text=True,
            **as_postgres,
        )
        if initdb.returncode != 0:
            shutil.rmtree(base, ignore_errors=True)
            raise ServerError(f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}")
        for _attempt in range(5):
            port = free_port()
            log_path = base / f"postgres-{port}.log"
            argv = [
                str(bindir / "postgres"),
                "-D", str(data),
                "-k", str(data),
                "-h", "127.0.0.1",
                "-p", str(port),
                "-c", "fsync=off",
                "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off",
                "-c", "max_connections=200",
            ]  # fmt: skip
            server = cls(_spawn(argv, log_path, cwd=data, **as_postgres), log_path, base, port)
            server.argv = argv
            try:
                server.wait_until(server.accepts_connections, "accepting connections")
            except ServerError as error:
                if "could not bind" in str(error):
                    continue  # another process took the port in the meantime
                server.cleanup()
                raise
            return server
        shutil.rmtree(base, ignore_errors=True)
        raise ServerError("postgres found no free port in 5 attempts")

    def restart(self) -> None:
        """Stop the server ("fast": sessions are cut) and start it again on the same data and
        port; it accepts connections when this returns."""
        self.terminate()
        self.start_again()

    def start_again(self) -> None:
        """Start a server stopped with terminate() on its data and port, accepting connections."""
        data = self.base / "data"
        self.process = _spawn(self.argv, self.log_path, cwd=data, **_as_postgres_user())
        _running[self.pid] = self
        self.wait_until(self.accepts_connections, "accepting connections again")

    def accepts_connections(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(
                host=self.host, port=self.port, user=self.user, dbname="postgres", connect_timeout=2
            ).close()
        except psycopg2.OperationalError:
            return False
        return True

    def cleanup(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


# daphne --------------------------------------------------------------------------

# Variables of the test process that must not leak into a server's own settings.
PRIVATE_ENV = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")


def app_env(env: Mapping[str, str | None]) -> dict[str, str]:
    """The environment of an app process: ours, the test settings, then `env` (None unsets)."""
    child_env = {k: v for k, v in os.environ.items() if k not in PRIVATE_ENV}
    child_env |= {
        "DJANGO_SETTINGS_MODULE": "project.settings.test",
        "PYTHONUNBUFFERED": "1",
        # A process that will not stop is asked for its stacks (ServerProcess._dump_stacks).
        "PYTHONFAULTHANDLER": "1",
    }
    for key, value in env.items():
        if value is None:
            child_env.pop(key, None)
        else:
            child_env[key] = value
    return child_env


class DaphneServer(ServerProcess):
    """daphne serving project.asgi on a listening socket the harness bound and handed over."""

    name = "daphne"

    def __init__(self, process: subprocess.Popen, log_path: Path, port: int) -> None:
        super().__init__(process, log_path)
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        """The Origin header a page served by this server sends."""
        return self.url

    @classmethod
    def start(
        cls,
        *,
        env: Mapping[str, str | None],
        log_path: Path,
        ready_path: str = "/healthz",
        tree: Path = REPO,
    ) -> DaphneServer:
        """Start daphne with `env` over the test settings; a None value unsets a variable.

        `tree` is the checkout whose code it serves (the benchmark compares two).
        """
        child_env = app_env(env)
        # region: daphne-on-a-bound-socket
        # Bound and listening before daphne starts: no port can be lost to a race,
        # and a request made before daphne is up waits in the backlog.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        port = listener.getsockname()[1]
        argv = [sys.executable, "-m", "project.daphne", "--fd", str(listener.fileno()),
                "project.asgi:application"]  # fmt: skip
        try:
            process = _spawn(argv, log_path, cwd=tree, env=child_env, pass_fds=[listener.fileno()])
        finally:
            listener.close()
        # endregion
        server = cls(process, log_path, port)
        server.wait_until(lambda: server.get(ready_path)[0] == 200, f"answering {ready_path}")
        return server

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        """GET a path; (0, b"") when nothing answers."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (OSError, TimeoutError):
            return 0, b""


class LiveblogWorker(ServerProcess):
    """`manage.py liveblog_worker`, the scheduler, on the test database."""

    name = "liveblog worker"

    @classmethod
    def start(
        cls, *, env: Mapping[str, str | None], log_path: Path, poll: float = 0.2
    ) -> LiveblogWorker:
        argv = [sys.executable, "manage.py", "liveblog_worker", "--poll", str(poll)]
        process = _spawn(argv, log_path, cwd=REPO, env=app_env(env))
        worker = cls(process, log_path)
        worker.wait_until(lambda: "publishing scheduled posts" in worker.log(), "started")
        return worker


# Reports -------------------------------------------------------------------------

# Per test: (title, callable) pairs whose text a failure report shows.
LOG_SOURCES = pytest.StashKey[list]()


def attach_log(node, title: str, source: Callable[[], str]) -> None:
    """Show `source()` under `title` in the report if the test `node` fails."""
    node.stash.setdefault(LOG_SOURCES, []).append((title, source))


def failure_sections(node) -> list[tuple[str, str]]:
    sections = []
    for title, source in node.stash.get(LOG_SOURCES, []):
        try:
            text = source()
        except Exception as exc:  # noqa: BLE001 - a report must not fail on its extras
            text = f"(could not read: {exc!r})"
        sections.append((title, text))
    return sections


def websocket_headers(
    *, origin: str, cookie: str | None = None, host: str | None = None
) -> list[tuple[bytes, bytes]]:
    """Handshake headers for channels' WebsocketCommunicator.

    A browser sends the Host it connects to; by default that is the origin's own
    host and port (a page opening a socket to its own site).
    """
    if host is None:
        host = origin.split("://", 1)[-1]
    headers = [(b"origin", origin.encode()), (b"host", host.encode())]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return headers
