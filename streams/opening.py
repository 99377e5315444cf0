"""Sockets that open at once share their trips to the database.

Every database call of a server process runs on one thread, one call after
another (channels' database_sync_to_async). Opening a socket needs a few of
them: its session and user, its stream (may this user follow it?), its
admission row (streams/limits.py), and the head and first events of its replay.
When a thousand clients come back at once, after a server restarted, one call
per socket per step is thousands of calls queued on that thread, each paying
a thread hop and a few statements for one socket alone.

So the steps of an opening are batched across sockets, the way the
multiplexed socket's joins are batched within one socket: a socket hands its
step to `trip(work, item)` and waits. If no trip is under way, one starts at
once (a socket opening alone waits for nothing more than before); the sockets
that ask while it runs queue up, and the next trip does all their steps
together, each kind of step in a few statements whatever the number of
sockets (`work` takes the list of items and answers each). A storm of N
sockets then costs a handful of trips, not N times a handful.
"""

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async

from .limits import Admission, sockets_admit
from .presence import presences_write
from .registry import Stream, streams_resolve_each

# Takes the items of every socket waiting on this step; answers each, in their order.
Work = Callable[[list[Any]], list[Any]]


class Trips:
    """The steps waiting for the next trip to the database, and the trip under way."""

    def __init__(self) -> None:
        self.waiting: dict[Work, list[tuple[Any, asyncio.Future[Any]]]] = {}
        self.running: asyncio.Task[None] | None = None

    async def run(self, work: Work, item: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(work, []).append((item, future))
        if self.running is None or self.running.done():
            self.running = asyncio.create_task(self._drive(), name="opening trips")
        return await future

    async def _drive(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, {}
            try:
                answers = await database_sync_to_async(_trip)(
                    {work: [item for item, _ in asked] for work, asked in batch.items()}
                )
            except BaseException as error:
                for asked in batch.values():
                    _settle(asked, error)
                if isinstance(error, asyncio.CancelledError):
                    raise
                continue
            for work, asked in batch.items():
                _settle(asked, answers[work])


def _trip(batch: dict[Work, list[Any]]) -> dict[Work, list[Any] | Exception]:
    """Do every step of the batch; a step that fails fails only the sockets waiting on it."""
    answers: dict[Work, list[Any] | Exception] = {}
    for work, items in batch.items():
        try:
            answers[work] = work(items)
        except Exception as error:
            answers[work] = error
    return answers


def _settle(asked: list[tuple[Any, asyncio.Future[Any]]], answer: Any) -> None:
    for index, (_item, future) in enumerate(asked):
        if future.done():  # the socket stopped waiting (its handshake was cancelled)
            continue
        if isinstance(answer, BaseException):
            future.set_exception(answer)
        else:
            future.set_result(answer[index])


_trips: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Trips] = weakref.WeakKeyDictionary()


async def trip(work: Work, item: Any) -> Any:
    """`work([item, ...])`'s answer for `item`, in the next trip with the sockets waiting."""
    loop = asyncio.get_running_loop()
    trips = _trips.get(loop)
    if trips is None:
        trips = _trips[loop] = Trips()
    return await trips.run(work, item)


# The steps of an opening ------------------------------------------------------------


@dataclass(frozen=True)
class Opening:
    """A socket asking to follow the stream `name` from the moment it opens."""

    name: str
    socket_id: str
    # The socket's user: AnonymousUser when nobody is signed in.
    user: Any
    address: str


def sockets_open(openings: list[Opening]) -> list[Stream | Exception | None]:
    """For each opening: its stream, resolved for its user, with the socket admitted on it
    (streams/limits.py); the resolver's refusal; or None, the socket being one too many."""
    streams = streams_resolve_each([(opening.name, opening.user) for opening in openings])
    followed = [
        (opening, stream)
        for opening, stream in zip(openings, streams, strict=True)
        if not isinstance(stream, Exception)
    ]
    admitted = iter(
        sockets_admit(
            [
                Admission(
                    stream=stream.presence,
                    socket_id=opening.socket_id,
                    user=opening.user if opening.user.is_authenticated else None,
                    address=opening.address,
                )
                for opening, stream in followed
            ]
        )
        if followed
        else []
    )
    return [
        stream if isinstance(stream, Exception) or next(admitted) else None for stream in streams
    ]


def presences_store(asked: list[list[tuple[str, str, Any]]]) -> list[None]:
    """Write the presence rows (stream, socket id, user) of many sockets' joins in one
    statement."""
    presences_write([row for sockets in asked for row in sockets])
    return [None for _sockets in asked]
