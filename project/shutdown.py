"""A clean exit for daphne after SIGTERM: finish the tasks its event loop left behind.

On SIGTERM daphne stops its event loop with tasks still suspended in it: the
consumers of open sockets waiting for their next frame, and the hub's
(streams/hub.py) receive and maintenance loops. The interpreter then
garbage-collects those suspended coroutines during its own teardown, when
much of the runtime is already gone; on
CPython 3.11 that crashes the process (SIGSEGV, exit status -11), so every
rolling restart looked like a crash to the orchestrator.

At exit, before that teardown, this cancels every task still pending on the
loop and lets the loop run their cancellation to the end (within
FINISH_WITHIN seconds). The process then exits with status 0. Nothing is lost
by cutting the consumers short: every change was committed before it was
broadcast, and the clients resume from their last seq on another server.
"""

import asyncio
import atexit
import logging

logger = logging.getLogger(__name__)

FINISH_WITHIN = 5.0


# region: finish-pending-tasks
def finish_pending_tasks() -> None:
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return  # no loop was ever made: nothing to finish
    if loop.is_closed() or loop.is_running():
        return
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.wait(tasks, timeout=FINISH_WITHIN))
    logger.info("finished %d pending task(s) at exit", len(tasks))
    # endregion


def install() -> None:
    """Finish the loop's pending tasks at exit (called by project/asgi.py)."""
    atexit.register(finish_pending_tasks)
