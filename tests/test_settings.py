"""Production settings: pass `check --deploy` when configured, refuse to start when not."""

import os
import secrets
import subprocess
import sys

import pytest

from tests.support.harness import REPO

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "project.settings.production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "chat.example.org",
    "DATABASE_URL": "postgres://app:secret@db.invalid:5432/app",
    "REDIS_URL": "redis://redis.invalid:6379/0",
}
REQUIRED = ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"]


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    # Nothing from the caller's environment: only what the test gives.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TEST_"))}
    inherited = {k: v for k, v in inherited.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_configured_production_passes_check_deploy_without_warnings():
    result = check_deploy(PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", REQUIRED)
def test_production_refuses_to_start_without(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}

    result = check_deploy(env)

    assert result.returncode != 0
    assert missing in result.stderr
    for present in set(REQUIRED) - {missing}:
        assert present not in result.stderr.split("not set:")[-1]


def test_production_names_every_missing_variable_at_once():
    env = {"DJANGO_SETTINGS_MODULE": "project.settings.production"}

    result = check_deploy(env)

    assert result.returncode != 0
    for name in REQUIRED:
        assert name in result.stderr
