"""Test settings: fast, fake and safe. The suite's fixtures point them at real servers."""

import os
import tempfile
from pathlib import Path

from project.env import env_bool

from .dev import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

# A file, not SQLite's in-memory default, so that a live daphne started by the
# suite shares the test database with the test process.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.environ.get("TEST_SQLITE_PATH")
        or str(Path(tempfile.gettempdir()) / f"test-db-{os.getpid()}.sqlite3"),
    }

# Daphne processes started by the suite serve static files from the source
# folders: a test run has no collectstatic, so no STATIC_ROOT to serve from.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None

# The suite's own event loops come and go with each test: a server-side scheduler
# runs only in the daphne processes of the tests that ask for one.
LIVEBLOG_SCHEDULER_IN_SERVER = env_bool("LIVEBLOG_SCHEDULER_IN_SERVER", False)
# A daphne started by the suite writes its mail to files there, for a test to read
# (the test process itself keeps mail in memory: pytest-django's locmem outbox).
if os.environ.get("TEST_EMAIL_DIR"):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = os.environ["TEST_EMAIL_DIR"]
