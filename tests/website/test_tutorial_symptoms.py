"""The symptoms the tutorial's "If it didn't work" boxes quote are the real ones.

Each test makes one of the usual mistakes, in a throwaway copy or a process of
its own, and checks that what the chapter quotes is what appears. Each
chapter's tests are in a section of their own, named after the chapter.
"""

import importlib.util
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.core.exceptions import SynchronousOnlyOperation
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from project.asgi import application
from streams.revocation import CLOSE_SESSION_ENDED
from tests.support.harness import (
    REPO,
    DaphneServer,
    ServerProcess,
    _spawn,
    app_env,
    free_port,
    websocket_headers,
)
from tests.support.topology import TEMPLATE

# 10. Testing ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_testing_the_orm_called_straight_from_an_async_test_is_refused():
    with pytest.raises(
        SynchronousOnlyOperation,
        match=re.escape(
            "You cannot call this from an async context - use a thread or sync_to_async."
        ),
    ):
        get_user_model().objects.count()


@pytest.mark.django_db(transaction=True)
async def test_testing_a_communicator_without_an_origin_is_refused_with_false_and_1000():
    bare = WebsocketCommunicator(application, "/ws/chat/lobby/")
    assert await bare.connect() == (False, 1000)

    # The same socket with the header a page of the site sends gets past the origin
    # check: accepted, then closed because no one is signed in.
    headed = WebsocketCommunicator(
        application, "/ws/chat/lobby/", headers=websocket_headers(origin="http://testserver")
    )
    connected, _ = await headed.connect()
    assert connected
    assert await headed.receive_output() == {"type": "websocket.close", "code": CLOSE_SESSION_ENDED}


def test_testing_a_misspelt_test_stack_stops_pytest_before_any_test(monkeypatch):
    # A fresh copy of the module tests/conftest.py imports first, run as pytest would run it.
    monkeypatch.setenv("TEST_STACK", "redis")
    spec = importlib.util.find_spec("tests.support.stack")
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    message = "TEST_STACK must be one of ['', 'postgres-redis'], not 'redis'."

    with pytest.raises(pytest.UsageError, match=re.escape(message)):
        spec.loader.exec_module(copy)


# 11. Deploying with compose and scaling out ---------------------------------------------

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "project.settings.production",
    "DJANGO_SECRET_KEY": "symptom-test-only",
    "DJANGO_ALLOWED_HOSTS": "chat.example.org",
    "REDIS_URL": "redis://127.0.0.1:9/0",  # never reached: no request here uses Redis
}

# Two requests to the production settings, as nginx hands them on over HTTPS.
REQUESTS = """
import django
django.setup()
from django.test import Client
client = Client(raise_request_exception=False)
for host, path in [("chat.example.org", "/admin/"), ("www.chat.example.org", "/")]:
    print(path, client.get(path, secure=True, headers={"host": host}).status_code, flush=True)
"""


def production(tmp_path: Path, code: str, **env: str | None) -> str:
    """Run `code` on the production settings with `env` over PRODUCTION; its output."""
    settings = PRODUCTION | {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"} | env
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=app_env({"PYTHONPATH": str(REPO), **settings}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout + done.stderr


def test_deploy_production_settings_name_every_variable_left_unset(tmp_path):
    output = production(
        tmp_path, "import django; django.setup()", DJANGO_ALLOWED_HOSTS=None, REDIS_URL=None
    )

    assert (
        "project.env.MissingSettings: Production settings need these environment variables,"
        " which are not set: DJANGO_ALLOWED_HOSTS, REDIS_URL. See docs/configuration.md."
    ) in output


@pytest.fixture(scope="module")
def requests_output(tmp_path_factory) -> str:
    return production(tmp_path_factory.mktemp("production"), REQUESTS)


def test_deploy_without_an_admin_url_the_admin_is_not_found(requests_output):
    output = requests_output

    assert "Not Found: /admin/" in output
    assert "/admin/ 404" in output.splitlines()


def test_deploy_a_host_missing_from_allowed_hosts_is_a_bad_request(requests_output):
    output = requests_output

    assert (
        "Invalid HTTP_HOST header: 'www.chat.example.org'."
        " You may need to add 'www.chat.example.org' to ALLOWED_HOSTS."
    ) in output
    assert "/ 400" in output.splitlines()


def test_deploy_compose_refuses_an_env_file_left_unfilled(tmp_path):
    (tmp_path / ".env").write_text((REPO / "deploy" / ".env.example").read_text())
    done = subprocess.run(
        [str(Path(sys.executable).parent / "docker-compose"), "-f", "deploy/docker-compose.yml",
         "--project-directory", str(tmp_path), "config", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip

    assert (
        "required variable POSTGRES_PASSWORD is missing a value: set POSTGRES_PASSWORD"
        " in deploy/.env"
    ) in done.stderr


# nginx in front of one daphne, proxying /ws/ with or without the lines of the real
# template that pass the handshake on: the upgrade, and the Host the Origin must match.
HANDSHAKE_LINES = (
    "proxy_http_version",
    "proxy_set_header Upgrade",
    "proxy_set_header Connection",
    "proxy_set_header Host",
)


def handshake_config() -> tuple[str, list[str]]:
    """The template's `map` for the Connection header, and its lines that pass the handshake."""
    template = TEMPLATE.read_text()
    connection_map = re.search(r"^map \$http_upgrade .*?^}", template, re.S | re.M)
    ws_location = template.split("location /ws/", 1)[1].split("\n    }", 1)[0]
    lines = [
        line.strip()
        for line in ws_location.splitlines()
        if line.strip().startswith(HANDSHAKE_LINES)
    ]
    assert connection_map and len(lines) == len(HANDSHAKE_LINES)
    return connection_map.group(0), lines


@pytest.fixture(scope="module")
def daphne_alone(tmp_path_factory) -> Iterator[DaphneServer]:
    folder = tmp_path_factory.mktemp("daphne")
    server = DaphneServer.start(
        env={"DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}"}, log_path=folder / "daphne.log"
    )
    yield server
    server.stop()


@contextmanager
def nginx_to(daphne: DaphneServer, *, passing: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """nginx proxying /ws/ to `daphne` with the template's lines that start with `passing`;
    the socket URL of a chat room through it, and the Origin of a page it serves."""
    # nginx's workers run as nobody: the prefix must be readable by all.
    prefix = Path(tempfile.mkdtemp(prefix="nginx-"))
    prefix.chmod(0o755)
    connection_map, lines = handshake_config()
    port = free_port()
    (prefix / "nginx.conf").write_text(
        f"pid {prefix}/nginx.pid;\nevents {{}}\nhttp {{\n"
        + "".join(f"  {kind}_temp_path {prefix}/{kind};\n" for kind in ("client_body", "proxy"))
        + f"  access_log off;\n  {connection_map}\n"
        + f"  server {{\n    listen 127.0.0.1:{port};\n    location /ws/ {{\n"
        + f"      proxy_pass http://127.0.0.1:{daphne.port};\n"
        + "".join(f"      {line}\n" for line in lines if passing and line.startswith(passing))
        + "    }\n  }\n}\n"
    )
    argv = ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr",
            "-g", "daemon off;"]  # fmt: skip
    nginx = ServerProcess(_spawn(argv, prefix / "nginx.log"), prefix / "nginx.log")
    nginx.stop_signal = signal.SIGQUIT  # graceful

    def listening() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    try:
        nginx.wait_until(listening, "listening")
        yield f"ws://127.0.0.1:{port}/ws/chat/lobby/", f"http://127.0.0.1:{port}"
    finally:
        nginx.stop()
        shutil.rmtree(prefix)


def test_deploy_a_ws_location_that_drops_the_upgrade_gets_django_s_404(daphne_alone):
    with (
        nginx_to(daphne_alone, passing=()) as (url, origin),
        pytest.raises(InvalidStatus, match="HTTP 404"),
    ):
        connect(url, origin=origin, open_timeout=10)

    log = daphne_alone.log()
    assert "Not Found: /ws/chat/lobby/" in log
    assert '"GET /ws/chat/lobby/" 404' in log


def test_deploy_a_ws_location_that_drops_the_host_is_refused_by_the_origin_check(daphne_alone):
    without_host = tuple(line for line in HANDSHAKE_LINES if "Host" not in line)
    with (
        nginx_to(daphne_alone, passing=without_host) as (url, origin),
        pytest.raises(InvalidStatus, match="HTTP 403"),
    ):
        connect(url, origin=origin, open_timeout=10)


def test_deploy_the_templates_ws_location_passes_the_handshake_on(daphne_alone):
    # Through to the consumer, which accepts and closes: nobody is signed in.
    with (
        nginx_to(daphne_alone, passing=HANDSHAKE_LINES) as (url, origin),
        connect(url, origin=origin, open_timeout=10) as opened,
        pytest.raises(ConnectionClosed) as closed,
    ):
        opened.recv(timeout=10)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == CLOSE_SESSION_ENDED
