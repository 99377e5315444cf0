"""deploy/ checked without a Docker engine: the compose file, the Dockerfile, nginx, timeouts."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from project.daphne import daphne_argv
from project.settings.base import PRESENCE_HEARTBEAT, channel_layers
from tests.support.harness import REPO
from tests.support.topology import TEMPLATE, compose_config, native_nginx_conf, render_template

BIN = Path(sys.executable).parent
CLIENT_PING_EVERY = 10  # static/js/stream.js PING_EVERY_MS
CLIENT_PONG_WITHIN = 5  # static/js/stream.js PONG_WITHIN_MS


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    example = (REPO / "deploy" / ".env.example").read_text()
    values = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    values |= {"POSTGRES_PASSWORD": "check", "DJANGO_SECRET_KEY": "check"}
    return compose_config(tmp_path_factory.mktemp("compose"), values)


def option(command: list[str], name: str) -> str:
    """`--name=value`'s value in `command`: the last one given, as daphne and gunicorn read it."""
    values = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"--{name}=")]
    assert values, f"--{name} is not given"
    return values[-1]


def seconds(text: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s|m)?", text).groups()
    return float(number) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[unit]


def test_the_services_are_the_documented_topology(config):
    services = config["services"]
    assert set(services) == {"db", "redis", "migrate", "static", "http", "ws", "worker", "nginx"}
    assert "container_name" not in services["ws"]  # so that --scale ws=N works
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"nginx"}
    assert services["http"]["command"][:2] == ["gunicorn", "project.wsgi:application"]
    assert services["ws"]["command"][:3] == ["python", "-m", "project.daphne"]
    assert services["worker"]["command"][:3] == ["python", "manage.py", "liveblog_worker"]
    for name in ("http", "ws", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["nginx"]["depends_on"]["ws"]["condition"] == "service_healthy"


def test_the_dockerfile_lints_clean():
    result = subprocess.run(
        [str(BIN / "hadolint"), str(REPO / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^USER 10001", dockerfile, re.M)
    assert re.search(r'^CMD \["', dockerfile, re.M)  # exec form
    assert "HEALTHCHECK" in dockerfile and "ARG PYTHON_IMAGE" in dockerfile


def test_the_image_installs_the_lock_with_the_uv_the_makefile_pins():
    makefile = (REPO / "Makefile").read_text()
    dockerfile = (REPO / "Dockerfile").read_text()
    (pinned,) = re.findall(r"^UV_VERSION := (\S+)$", makefile, re.M)
    assert re.search(rf"^ARG UV_VERSION={re.escape(pinned)}$", dockerfile, re.M)
    assert "uv sync --locked --no-dev" in dockerfile


def test_the_nginx_template_is_valid(config, tmp_path):
    values = dict(config["services"]["nginx"]["environment"])
    values |= {
        "NGINX_RESOLVER": "127.0.0.1:53",
        "HTTP_LISTEN": "127.0.0.1:8080",
        "HTTPS_LISTEN": "127.0.0.1:8443",
        "STATIC_ROOT": str(tmp_path),
        "TLS_CERTIFICATE": str(tmp_path / "cert.pem"),
        "TLS_CERTIFICATE_KEY": str(tmp_path / "key.pem"),
    }
    rendered = render_template(TEMPLATE.read_text(), values)
    assert "${" not in rendered, "a template variable the compose file does not set"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=test", "-keyout", values["TLS_CERTIFICATE_KEY"], "-out", values["TLS_CERTIFICATE"]],
        check=True, capture_output=True,
    )  # fmt: skip
    for folder in ("conf.d", "temp"):
        (tmp_path / folder).mkdir()
    (tmp_path / "conf.d" / "default.conf").write_text(rendered)
    (tmp_path / "nginx.conf").write_text(native_nginx_conf(tmp_path))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_timeouts_agree(config):
    """The rules docs/deploy.md gives, checked against the files that set them."""
    services = config["services"]
    template = TEMPLATE.read_text()
    ws_location = template.split("location /ws/", 1)[1].split("\n    }", 1)[0]
    http_location = template.split("set $http_upstream", 1)[1].split("\n    }", 1)[0]
    nginx_ws_read = seconds(re.search(r"proxy_read_timeout (\w+);", ws_location).group(1))
    nginx_http_read = seconds(re.search(r"proxy_read_timeout (\w+);", http_location).group(1))
    # What the ws service's daphne runs with: the launcher's options, then the command's.
    daphne = daphne_argv(services["ws"]["command"][3:])
    ping_interval = float(option(daphne, "ping-interval"))
    ping_timeout = float(option(daphne, "ping-timeout"))
    close_timeout = float(option(daphne, "application-close-timeout"))
    gunicorn = services["http"]["command"]

    # A socket is never quiet for longer than the pings allow, so nginx never cuts a live one.
    assert nginx_ws_read > ping_interval + ping_timeout
    assert nginx_ws_read > CLIENT_PING_EVERY + CLIENT_PONG_WITHIN
    # gunicorn times a slow request out before nginx gives up on it.
    assert nginx_http_read > float(option(gunicorn, "timeout"))
    # Docker waits for daphne's own shutdown before it kills.
    assert seconds(services["ws"]["stop_grace_period"]) > close_timeout
    assert seconds(services["http"]["stop_grace_period"]) > float(
        option(gunicorn, "graceful-timeout")
    )
    # A live socket renews its group membership long before the layer expires it.
    redis_layer = channel_layers("redis://redis:6379/0")["default"]["CONFIG"]
    assert redis_layer["group_expiry"] >= 10 * PRESENCE_HEARTBEAT


def test_the_deploy_guide_shows_the_commands_the_services_run(config):
    guide = (REPO / "docs" / "deploy.md").read_text()
    for name in ("migrate", "static", "http", "ws", "worker"):
        command = " ".join(config["services"][name]["command"])
        assert f"`{command}`" in guide, f"docs/deploy.md does not show the {name} command"
