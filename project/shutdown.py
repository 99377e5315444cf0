"""A clean exit for daphne after SIGTERM: finish the tasks its event loop left behind.

On SIGTERM daphne stops its event loop with tasks still suspended in it: the
consumers of open sockets waiting for their next frame, and the hub's
(streams/hub.py) receive and maintenance loops. The interpreter then
garbage-collects those suspended coroutines during its own teardown, when
much of the runtime is already gone; on
CPython 3.11 that crashes the process (SIGSEGV, exit status -11), so every
rolling restart looked like a crash to the orchestrator.

A thread can be caught too: database work that broadcasts after its commit
waits, through `async_to_sync`, for a coroutine the stopped loop will never
run. The interpreter joins such threads before anything else at exit, and
would wait for ever (until the orchestrator's SIGKILL).

So at exit, before those joins and that teardown, this cancels every task
still pending on the loop and lets the loop run their cancellation to the
end (within FINISH_WITHIN seconds), until none is left: a cancelled
coroutine lets go of the thread waiting for it, whose work then fails as the
server's shutdown would have failed it anyway. The process then exits with
status 0. Nothing is lost by cutting the consumers short: every change was
committed before it was broadcast, and the clients resume from their last
seq on another server.
"""

import asyncio
import concurrent.futures.thread  # noqa: F401 - its exit hook is registered first
import logging
import threading
import time

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
    deadline = time.monotonic() + FINISH_WITHIN
    finished = 0
    # Callbacks first: a thread may have handed the loop a coroutine to start.
    loop.run_until_complete(asyncio.sleep(0))
    while (tasks := asyncio.all_tasks(loop)) and time.monotonic() < deadline:
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.wait(tasks, timeout=deadline - time.monotonic()))
        finished += len(tasks)
    logger.info("finished %d pending task(s) at exit", finished)
    # endregion


def install() -> None:
    """Finish the loop's pending tasks at exit (called by project/asgi.py).

    Registered where concurrent.futures registers the joins of its worker
    threads, and after it, so that it runs before them.
    """
    threading._register_atexit(finish_pending_tasks)  # type: ignore[attr-defined]
