"""Local development: the embedded default unless DATABASE_URL / REDIS_URL say otherwise."""

from project.env import env_list

from .base import *  # noqa: F403

DEBUG = True
SECRET_KEY = "dev-only-insecure-secret-key-never-use-in-production"  # noqa: S105
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Mail, password-reset links included, is printed by the server instead of sent.
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
PASSWORD_RESET_BY_EMAIL = True
