"""`manage.py run_banner --port N`: once a server listens on N, say where to open it and
who to sign in as. `make run` starts it beside daphne, so the banner is the last thing
the terminal shows before the first request."""

import socket
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from .load_demo_data import ADMIN_PASSWORD, ADMIN_USERNAME, DEMO_EDITORS, DEMO_PASSWORD, DEMO_USERS


def listening(host: str, port: int) -> bool:
    """Does something accept connections there? A bare connect sends no request to log."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def banner(*, host: str, port: int) -> list[str]:
    url = f"http://{host}:{port}/"
    *others, last = DEMO_USERS
    lines = [
        f"Open {url} (Ctrl+C stops the server).",
        f"Sign in as {', '.join(others)} or {last}, password {DEMO_PASSWORD}; "
        f"{' and '.join(DEMO_EDITORS)} also writes the liveblog.",
    ]
    if settings.ADMIN_URL:
        lines.append(
            f"The admin: {url}{settings.ADMIN_URL.strip('/')}/ "
            f"as {ADMIN_USERNAME}, password {ADMIN_PASSWORD}."
        )
    return lines


class Command(BaseCommand):
    help = "Wait until the server listens, then print its address and the demo accounts."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument(
            "--wait", type=float, default=120, help="Seconds to wait for the server (120)."
        )

    def handle(self, *args, host: str, port: int, wait: float, **options) -> None:
        deadline = time.monotonic() + wait
        while not listening(host, port):
            if time.monotonic() > deadline:
                # The server's own log says why it did not start.
                raise CommandError(f"nothing listens on {host}:{port}")
            time.sleep(0.1)
        self.stdout.write("\n".join(banner(host=host, port=port)))
