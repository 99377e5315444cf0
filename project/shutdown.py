"""A clean exit for daphne after SIGTERM: finish the tasks its event loop left behind.

On SIGTERM daphne stops its event loop with tasks still suspended in it: the
consumers of open sockets waiting for their next frame, and the hub's
(streams/hub.py) receive and maintenance loops. The interpreter then
garbage-collects those suspended coroutines during its own teardown, when
much of the runtime is already gone; on
CPython 3.11 that crashes the process (SIGSEGV, exit status -11), so every
rolling restart looked like a crash to the orchestrator.

Threads are caught by the stop too. A consumer's database work runs on a
worker thread, and when it commits it broadcasts through `async_to_sync`,
which hands a coroutine to the event loop and waits for it. The interpreter's
first act at exit is to join those threads; with the loop stopped, one that
is waiting (or that starts waiting after the stop, its commit still under
way) would hold the exit for ever, until the orchestrator's SIGKILL.

So, at exit, before those joins, this keeps the loop running, in a thread
of its own, and cancels every task on it: those left suspended by the stop,
and each coroutine a worker thread hands it meanwhile, once it has started
(a coroutine cancelled before its first step would never tell the thread it
ended). Each thread's wait then ends at once, its work fails as the shutdown
would have failed it anyway, and the interpreter's joins go through. After
them, the loop stops. All within FINISH_WITHIN seconds, and the process
exits with status 0. Nothing is lost by cutting the work short: every change
was committed before it was broadcast, and the clients resume from their
last seq on another server.
"""

import asyncio
import atexit
import concurrent.futures.thread  # noqa: F401 - its exit hook, joining its threads, comes first
import logging
import threading
import time

logger = logging.getLogger(__name__)

FINISH_WITHIN = 5.0
# How often the loop, serving the threads' last calls, cancels what they handed it.
SERVE_EVERY = 0.02

_serving = threading.Event()
_server: threading.Thread | None = None


# region: finish-pending-tasks
def finish_pending_tasks() -> None:
    """Before the interpreter joins its threads: keep the loop turning, cancelling its tasks."""
    global _server
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return  # no loop was ever made: nothing to finish
    if loop.is_closed() or loop.is_running():
        return
    _serving.set()
    _server = threading.Thread(target=_serve, args=(loop,), name="loop at exit", daemon=True)
    _server.start()


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    finished = loop.run_until_complete(_cancel_until_joined(time.monotonic() + FINISH_WITHIN))
    if finished:
        # Only then: a process with nothing to finish (a test run) may have closed its logs.
        logger.info("finished %d pending task(s) at exit", finished)


async def _cancel_until_joined(deadline: float) -> int:
    """Cancel each task once it has started, until the threads are joined; how many."""
    started: set[asyncio.Task] = set()
    cancelled: set[asyncio.Task] = set()
    while _serving.is_set() and time.monotonic() < deadline:
        # A task seen one turn ago has had its first step since.
        for task in started - cancelled:
            task.cancel()
            cancelled.add(task)
        started = asyncio.all_tasks() - {asyncio.current_task()}
        await asyncio.sleep(SERVE_EVERY)
    return len(cancelled)
    # endregion


def stop_serving() -> None:
    """After the interpreter joined its threads: stop the loop, and finish what is left on it
    (the threads are gone, so nothing more can arrive), before the teardown."""
    _serving.clear()
    if _server is None:
        return
    _server.join(FINISH_WITHIN)
    loop = asyncio.get_event_loop_policy().get_event_loop()
    if _server.is_alive() or loop.is_closed() or loop.is_running():
        return
    if tasks := asyncio.all_tasks(loop):
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.wait(tasks, timeout=FINISH_WITHIN))


def install() -> None:
    """Finish the loop's work at exit (called by project/asgi.py).

    `finish_pending_tasks` is registered where concurrent.futures registers
    the joins of its worker threads, and after it, so it runs before them
    (those hooks run last registered, first called); `stop_serving` runs
    with the usual exit hooks, which come after every join.
    """
    threading._register_atexit(finish_pending_tasks)  # type: ignore[attr-defined]
    atexit.register(stop_serving)
