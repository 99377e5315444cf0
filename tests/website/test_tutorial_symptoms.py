"""The symptoms the tutorial's "If it didn't work" boxes quote are the real ones.

Each test makes one of the usual mistakes, in a throwaway copy or a process of
its own, and checks that what the chapter quotes is what appears. Each
chapter's tests are in a section of their own, named after the chapter.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.core.exceptions import SynchronousOnlyOperation

from project.asgi import application
from streams.revocation import CLOSE_SESSION_ENDED
from tests.support.harness import REPO, app_env, websocket_headers

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


def test_testing_a_misspelt_test_stack_stops_pytest_before_any_test():
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/test_imports.py"],
        cwd=REPO,
        env=app_env({"TEST_STACK": "redis"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode != 0
    assert "TEST_STACK must be one of ['', 'postgres-redis'], not 'redis'." in done.stderr


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
