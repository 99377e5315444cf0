"""The scheduler: publishes scheduled posts when their time comes.

Scheduled posts live in the database (state "scheduled", publish_at), so a
restart loses nothing: the worker publishes whatever is due when it starts,
then wakes at the next due time (or every --poll seconds, to notice new ones).
Several workers may run; each post is published once (see services.publish_due).
"""

import logging
import signal
import threading
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.utils import timezone

from liveblog import services
from liveblog.selectors import post_next_due

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Publish scheduled liveblog posts on time. Runs until SIGTERM or SIGINT."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--poll",
            type=float,
            default=1.0,
            help="Longest sleep between checks, in seconds (default 1).",
        )
        parser.add_argument(
            "--alive-file",
            type=Path,
            help="A file touched after every successful pass, for a container health check.",
        )

    def handle(self, *args, poll: float, alive_file: Path | None, **options) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"liveblog worker: publishing scheduled posts (poll {poll} s)")
        self.stdout.flush()
        # region: worker-loop
        while not stop.is_set():
            close_old_connections()
            try:
                published = services.publish_due()
                upcoming = post_next_due()
                if alive_file is not None:
                    alive_file.touch()
            except Exception:  # a database blip must not end the worker
                logger.exception("liveblog worker: pass failed; retrying")
                published, upcoming = [], None
            for post in published:
                self.stdout.write(f"published post {post.pk} of liveblog {post.liveblog_id}")
            self.stdout.flush()
            wait = poll
            if upcoming is not None:
                wait = min(poll, max(0.0, (upcoming - timezone.now()).total_seconds()))
            stop.wait(wait)
        # endregion
        self.stdout.write("liveblog worker: stopped")
