"""The compose stack run natively on loopback: the same commands, environment and nginx config.

There is no Docker engine here, so this reads deploy/docker-compose.yml through
the real Compose binary (`docker-compose config --format json`) and starts
each service's own command with its own environment, as a process. What
stands in for Docker, and nothing else, is rewritten:

- container addresses: each replica listens on a loopback address of its own
  (`0.0.0.0` becomes 127.0.0.2, 127.0.0.3, ...), all on one free port that
  stands in for 8000, and nginx's fixed address 172.28.0.10 becomes 127.0.0.1;
- Docker's DNS: a small DNS server (tests/support/dns.py) answers `ws` with
  every daphne replica's address and `http` with gunicorn's;
- container paths and servers: DATABASE_URL and REDIS_URL point at a
  throwaway PostgreSQL and Redis; nginx's pid, logs and temporary files live
  in its prefix; the static files (the image's and the
  volume's are the same collectstatic output) and the TLS certificate live in
  a temporary directory; and the image's virtualenv is ours.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from tests.support.dns import DnsServer
from tests.support.harness import (
    REPO,
    PostgresServer,
    RedisServer,
    ServerError,
    ServerProcess,
    _spawn,
    free_port,
)

DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
TEMPLATE = DEPLOY / "nginx" / "templates" / "default.conf.template"
NGINX_ADDRESS = "172.28.0.10"
APP_PORT = "8000"
SECRET_KEY = "native-topology-secret-key-" + "x" * 40

MAIN_CONF = DEPLOY / "nginx" / "nginx.conf"


def native_nginx_conf(prefix: Path) -> str:
    """deploy/nginx/nginx.conf with its container paths moved under `prefix`."""
    text = MAIN_CONF.read_text()
    text = text.replace("/var/run/nginx.pid", f"{prefix}/nginx.pid")
    text = text.replace("/var/log/nginx/", f"{prefix}/")
    temp_paths = "".join(
        f"    {kind}_temp_path {prefix}/temp/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return text.replace(
        "    include /etc/nginx/conf.d/*.conf;",
        f"{temp_paths}    include {prefix}/conf.d/*.conf;",
    )


def compose_config(project_dir: Path, env_file: Mapping[str, str]) -> dict:
    """deploy/docker-compose.yml as Compose resolves it, with `env_file` as deploy/.env."""
    (project_dir / ".env").write_text("".join(f"{k}={v}\n" for k, v in env_file.items()))
    compose = shutil.which("docker-compose", path=str(Path(sys.executable).parent))
    result = subprocess.run(
        [compose or "docker-compose", "-f", str(COMPOSE_FILE), "--project-directory",
         str(project_dir), "config", "--format", "json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise ServerError(f"docker-compose config failed:\n{result.stderr}")
    return json.loads(result.stdout)


def render_template(text: str, values: Mapping[str, str]) -> str:
    """What the nginx image's envsubst does: replace ${NAME} for the names it is given."""
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


def shared_free_port(addresses: list[str]) -> int:
    """A port free on every one of `addresses` (the replicas all listen on the same port)."""
    for _attempt in range(20):
        port = free_port()
        sockets = []
        try:
            for address in addresses:
                probe = socket.socket()
                sockets.append(probe)
                probe.bind((address, port))
            return port
        except OSError:
            continue
        finally:
            for probe in sockets:
                probe.close()
    raise ServerError(f"no port free on all of {addresses}")


def https_get(url: str, host: str | None = None, timeout: float = 5) -> tuple[int, bytes, dict]:
    """GET over HTTPS without checking the throwaway certificate; (0, b"", {}) on no answer."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)
    except (OSError, TimeoutError):
        return 0, b"", {}


class Service(ServerProcess):
    """One service of the topology, started from its compose command."""

    def __init__(self, name: str, process: subprocess.Popen, log_path: Path, address=None):
        super().__init__(process, log_path)
        self.name = name
        self.address = address

    @classmethod
    def start(
        cls,
        name: str,
        argv: list[str],
        env: Mapping[str, str],
        log_path: Path,
        ready: Callable[[Service], bool] | None = None,
        address: str | None = None,
    ) -> Service:
        process = _spawn(argv, log_path, cwd=REPO, env=dict(env))
        service = cls(name, process, log_path, address)
        if ready is not None:
            service.wait_until(lambda: ready(service), "ready")
        return service

    def run_to_end(self, within: float = 120) -> None:
        """For one-shot services (migrate, static): wait, and fail with the log if it failed."""
        try:
            code = self.process.wait(within)
        except subprocess.TimeoutExpired:
            self.terminate()
            raise self.fail(f"did not finish in {within} s") from None
        if code != 0:
            raise self.fail(f"exited with {code}")


class NativeTopology:
    """PostgreSQL, Redis, migrate, static, gunicorn, daphne replicas, the worker, nginx."""

    def __init__(self, replicas: int = 2, extra_env: Mapping[str, str] | None = None) -> None:
        self.replicas = replicas
        self.extra_env = dict(extra_env or {})
        # Traversable (0755): nginx's workers run as nobody and read static files here.
        self.base = Path(tempfile.mkdtemp(prefix="topology-"))
        self.base.chmod(0o755)
        self.services: list[ServerProcess] = []
        self.ws: list[Service] = []
        self.http: Service | None = None
        self.nginx: Service | None = None
        self.dns: DnsServer | None = None

    # Start ---------------------------------------------------------------------

    def start(self) -> NativeTopology:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        postgres = PostgresServer.start()
        self.services.append(postgres)
        redis = RedisServer.start()
        self.services.append(redis)
        _create_database(postgres, "app")

        self.config = compose_config(
            self.base,
            {
                "POSTGRES_PASSWORD": "native",
                "DJANGO_SECRET_KEY": SECRET_KEY,
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            },
        )
        self.addresses = {
            "ws": [f"127.0.0.{2 + n}" for n in range(self.replicas)],
            "http": [f"127.0.0.{2 + self.replicas}"],
        }
        self.port = shared_free_port(self.addresses["ws"] + self.addresses["http"])
        self.static_root = self.base / "static"
        self.overrides = {
            "DATABASE_URL": postgres.url("app"),
            "REDIS_URL": redis.url,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONUNBUFFERED": "1",
            # A service that will not stop is asked for its stacks (ServerProcess._dump_stacks).
            "PYTHONFAULTHANDLER": "1",
            **self.extra_env,
        }

        self.one_shot("migrate")
        self.one_shot("static")
        self.http = self.app_service("http", self.addresses["http"][0])
        for address in self.addresses["ws"]:
            self.ws.append(self.app_service("ws", address))
        self.worker = self.app_service("worker", None, ready=_logged("publishing scheduled"))
        self.dns = DnsServer(self.addresses).start()
        self.start_nginx()

    def app_env(self, name: str) -> dict[str, str]:
        environment = dict(self.config["services"][name].get("environment") or {})
        environment = {k: self.rewrite(v) for k, v in environment.items() if v is not None}
        # The image's collected files (/app/staticfiles) and the static volume
        # (/srv/static) hold the same collectstatic output: here one directory.
        environment["DJANGO_STATIC_ROOT"] = str(self.static_root)
        return {**environment, **self.overrides}

    def rewrite(self, value: str, address: str | None = None) -> str:
        """Stand native values in for the container's."""
        value = value.replace(NGINX_ADDRESS, "127.0.0.1")
        value = value.replace("/tmp/", f"{self.base}/")
        if address is not None:
            value = value.replace("0.0.0.0", address).replace(APP_PORT, str(self.port))
        return value

    def command(self, name: str, address: str | None = None) -> list[str]:
        return [self.rewrite(arg, address) for arg in self.config["services"][name]["command"]]

    def one_shot(self, name: str) -> None:
        service = Service.start(
            name, self.command(name), self.app_env(name), self.base / f"{name}.log"
        )
        service.run_to_end()

    def app_service(self, name: str, address: str | None, ready=None) -> Service:
        log_path = self.base / f"{name}-{address or 'main'}.log"
        service = Service.start(
            f"{name} ({address})" if address else name,
            self.command(name, address),
            self.app_env(name),
            log_path,
            ready=ready or _answers_healthz(address, self.port),
            address=address,
        )
        self.services.append(service)
        return service

    def start_nginx(self) -> None:
        prefix = self.base / "nginx"
        for folder in ("conf.d", "temp", "certs"):
            (prefix / folder).mkdir(parents=True)
        certificate, key = prefix / "certs" / "fullchain.pem", prefix / "certs" / "privkey.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(certificate)],
            check=True, capture_output=True,
        )  # fmt: skip
        self.http_port, self.https_port = free_port(), free_port()
        values = dict(self.config["services"]["nginx"]["environment"])
        values |= {
            "NGINX_RESOLVER": self.dns.address,
            "APP_PORT": str(self.port),
            "HTTP_LISTEN": f"127.0.0.1:{self.http_port}",
            "HTTPS_LISTEN": f"127.0.0.1:{self.https_port}",
            "STATIC_ROOT": str(self.static_root),
            "TLS_CERTIFICATE": str(certificate),
            "TLS_CERTIFICATE_KEY": str(key),
        }
        (prefix / "conf.d" / "default.conf").write_text(
            render_template(TEMPLATE.read_text(), values)
        )
        (prefix / "nginx.conf").write_text(native_nginx_conf(prefix))
        argv = ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                "-e", "stderr", "-g", "daemon off;"]  # fmt: skip
        self.nginx = Service.start(
            "nginx", argv, os.environ, self.base / "nginx.log",
            ready=lambda _: self.get("/healthz")[0] == 200,
        )  # fmt: skip
        self.nginx.stop_signal = 3  # SIGQUIT: graceful
        self.services.append(self.nginx)

    # Use ------------------------------------------------------------------------

    def manage(self, *args: str) -> None:
        """Run a management command as the migrate service would (e.g. to load test data)."""
        argv = [sys.executable, "manage.py", *args]
        log_path = self.base / f"manage-{args[0]}.log"
        Service.start(args[0], argv, self.app_env("migrate"), log_path).run_to_end()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def get(self, path: str) -> tuple[int, bytes, dict]:
        return https_get(self.url + path)

    def logs(self) -> dict[str, str]:
        """The tail of every service's log, by file name."""
        paths = [*self.base.glob("*.log"), *(self.base / "nginx").glob("*.log")]
        return {path.name: path.read_text(errors="replace")[-20_000:] for path in paths}

    def replica_connections(self) -> list[int]:
        """How many WebSocket handshakes each daphne replica has accepted so far."""
        return [replica.log_path.read_text().count('"WSCONNECT ') for replica in self.ws]

    def stop_replica(self, index: int) -> int:
        """SIGTERM one daphne replica, as `docker compose stop` does; its exit code."""
        replica = self.ws[index]
        replica.terminate()
        return replica.process.returncode

    # Faults ---------------------------------------------------------------------------

    @property
    def postgres(self) -> PostgresServer:
        return next(s for s in self.services if isinstance(s, PostgresServer))

    @property
    def redis(self) -> RedisServer:
        """Its pause/resume/kill/restart keep the socket the services know it by."""
        return next(s for s in self.services if isinstance(s, RedisServer))

    def kill_replica(self, index: int) -> int:
        """SIGKILL one daphne replica, as the kernel's OOM killer does; its exit code."""
        replica = self.ws[index]
        os.kill(replica.pid, signal.SIGKILL)
        replica.terminate()  # reaps it
        return replica.process.returncode

    def start_replica(self, index: int) -> None:
        """Start a stopped replica again at its address, as compose's restart policy does;
        it answers /healthz when this returns."""
        old = self.ws[index]
        assert not old.running, f"{old.name} is still running"
        self.services.remove(old)
        self.ws[index] = self.app_service("ws", old.address)

    def replica_pids(self) -> list[int]:
        return [replica.pid for replica in self.ws]

    # Stop ---------------------------------------------------------------------------

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()
        if self.dns is not None:
            self.dns.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def _create_database(postgres: PostgresServer, name: str) -> None:
    import psycopg2

    connection = psycopg2.connect(
        host=postgres.host, port=postgres.port, user=postgres.user, dbname="postgres"
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()


def _answers_healthz(address: str | None, port: int) -> Callable[[Service], bool]:
    def ready(_service: Service) -> bool:
        request = urllib.request.Request(
            f"http://{address}:{port}/healthz", headers={"Host": "127.0.0.1"}
        )
        try:
            with urllib.request.urlopen(request, timeout=3) as response:
                return response.status == 200
        except (OSError, TimeoutError):
            return False

    return ready


def _logged(text: str) -> Callable[[Service], bool]:
    return lambda service: text in service.log()
