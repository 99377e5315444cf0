"""The scheduler: publishes scheduled posts when their time comes.

Scheduled posts live in the database (state "scheduled", publish_at), so a
restart loses nothing: the worker publishes whatever is due when it starts,
then wakes at the next due time (or every --poll seconds, to notice new ones).
Several workers may run; each post is published once (see services.publish_due).
On the embedded default the server publishes first (see liveblog/scheduler.py).
"""

import logging
import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from liveblog.scheduler import publish_pass, scheduler_wait, worker_delay

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Publish scheduled liveblog posts on time. Runs until SIGTERM or SIGINT."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--poll",
            type=float,
            default=None,
            help="Longest sleep between checks, in seconds (default LIVEBLOG_SCHEDULER_POLL).",
        )
        parser.add_argument(
            "--alive-file",
            type=Path,
            help="A file touched after every successful pass, for a container health check.",
        )

    def handle(self, *args, poll: float | None, alive_file: Path | None, **options) -> None:
        poll = settings.LIVEBLOG_SCHEDULER_POLL if poll is None else poll
        delay = worker_delay()
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"liveblog worker: publishing scheduled posts (poll {poll} s)")
        if delay:
            self.stdout.write(f"liveblog worker: servers publish first, this one {delay} s later")
        self.stdout.flush()
        # region: worker-loop
        while not stop.is_set():
            close_old_connections()
            try:
                published, upcoming = publish_pass(delay=delay)
                if alive_file is not None:
                    alive_file.touch()
            except Exception:  # a database blip must not end the worker
                logger.exception("liveblog worker: pass failed; retrying")
                published, upcoming = [], None
            for post in published:
                self.stdout.write(f"published post {post.pk} of liveblog {post.liveblog_id}")
            self.stdout.flush()
            stop.wait(scheduler_wait(upcoming=upcoming, poll=poll, delay=delay))
        # endregion
        self.stdout.write("liveblog worker: stopped")
