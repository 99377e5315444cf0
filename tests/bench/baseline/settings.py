"""Settings of the baseline: the Channels tutorial's chat, as the Channels docs set it up."""

import os

SECRET_KEY = "benchmark-baseline-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
]
# A file, so that the benchmark can make users and sessions for its sockets to sign in with.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_BASELINE_DATABASE", ":memory:"),
    }
}
ASGI_APPLICATION = "tests.bench.baseline.asgi.application"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
USE_TZ = True
