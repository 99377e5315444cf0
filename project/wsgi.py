"""WSGI entry point, for gunicorn serving plain HTTP next to daphne."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings.dev")

application = get_wsgi_application()
