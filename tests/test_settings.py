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


def admin_served_at(env: dict[str, str]) -> str:
    """Where the URL map built by these settings serves the admin's index, or "nowhere"."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TEST_"))}
    script = (
        "import django; django.setup()\n"
        "from django.urls import NoReverseMatch, reverse\n"
        "try:\n    print(reverse('admin:index'))\n"
        "except NoReverseMatch:\n    print('nowhere')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_production_serves_no_admin_unless_told_where():
    assert admin_served_at(PRODUCTION_ENV) == "nowhere"
    told = {**PRODUCTION_ENV, "DJANGO_ADMIN_URL": "staff-7f3a9c/"}
    assert admin_served_at(told) == "/staff-7f3a9c/"


def test_development_serves_the_admin_at_admin_unless_told_otherwise():
    assert admin_served_at({"DJANGO_SETTINGS_MODULE": "project.settings.dev"}) == "/admin/"
    moved = {"DJANGO_SETTINGS_MODULE": "project.settings.dev", "DJANGO_ADMIN_URL": "/back-office"}
    assert admin_served_at(moved) == "/back-office/"


def mail_settings(env: dict[str, str]) -> list[str]:
    """Mail backend, TLS, sender, and whether a reset is offered, as these settings build them."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TEST_"))}
    inherited = {k: v for k, v in inherited.items() if not k.startswith("EMAIL_")}
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings as s\n"
        "print(s.EMAIL_BACKEND, s.EMAIL_USE_TLS, s.DEFAULT_FROM_EMAIL, s.PASSWORD_RESET_BY_EMAIL)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.split()


def test_production_without_an_smtp_host_sends_no_mail_and_offers_no_reset():
    backend, _tls, _sender, reset = mail_settings(PRODUCTION_ENV)

    assert backend == "django.core.mail.backends.dummy.EmailBackend"
    assert reset == "False"


def test_production_sends_mail_over_smtp_with_tls_when_told_where():
    env = {**PRODUCTION_ENV, "EMAIL_HOST": "smtp.example.org", "DEFAULT_FROM_EMAIL": "me@x.org"}

    assert mail_settings(env) == [
        "django.core.mail.backends.smtp.EmailBackend",
        "True",
        "me@x.org",
        "True",
    ]
    assert check_deploy(env).returncode == 0


def test_production_with_an_smtp_host_refuses_to_start_without_a_sender():
    result = check_deploy({**PRODUCTION_ENV, "EMAIL_HOST": "smtp.example.org"})

    assert result.returncode != 0
    assert "DEFAULT_FROM_EMAIL" in result.stderr


def test_development_prints_mail_and_offers_the_reset():
    backend, *_rest, reset = mail_settings({"DJANGO_SETTINGS_MODULE": "project.settings.dev"})

    assert (backend, reset) == ("django.core.mail.backends.console.EmailBackend", "True")


def test_sqlite_connections_are_kept_and_postgresql_ones_by_default_are_not(monkeypatch):
    from project.settings.base import database

    monkeypatch.delenv("DATABASE_CONN_MAX_AGE", raising=False)
    sqlite, postgres = database(""), database("postgres://app@db.invalid:5432/app")

    assert (sqlite["CONN_MAX_AGE"], sqlite["CONN_HEALTH_CHECKS"]) == (600, True)
    assert (postgres["CONN_MAX_AGE"], postgres["CONN_HEALTH_CHECKS"]) == (0, False)
    monkeypatch.setenv("DATABASE_CONN_MAX_AGE", "0")
    assert database("")["CONN_MAX_AGE"] == 0
