"""Stream kinds: how a stream's name becomes, for one user, a stream a socket can follow.

A stream is named on the wire by its kind's prefix and a key: `chat:lobby`,
`liveblog:election-night`, or `user` (a kind with no key). Each app registers
its kinds in its AppConfig.ready, so the engine imports no app: the app hands
it a resolver, which turns all the keys a socket asks for at once into streams
(or the refusal of each: ObjectDoesNotExist, PermissionDenied) in a few
queries, whatever their number.

The stream a resolver builds says everything a socket needs to follow it: its
group, its presence group, its event log and head, and the commands a client
may send on it with their handlers. The same object serves a one-stream
socket (`/ws/chat/<slug>/`) and the multiplexed one (`/ws/`).
"""

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet

from .schemas import Protocol

# Sends one encoded frame to the socket a command came from, on the command's stream.
Reply = Callable[[str], Awaitable[None]]


class Stream:
    """One stream as one user may follow it: its groups, its log, the commands it takes.

    `commands` is the protocol of the commands a client may send on it (None:
    it only listens, and every command is answered `not_allowed` with
    `listen_only`). A command of type `a.b`, once its model has validated it,
    is handled by the method `command_a_b(reply, **fields)`; `reply` sends a
    frame to the socket the command came from alone.
    """

    commands: Protocol | None = None
    listen_only = "This stream only listens."
    # Whether presence on the stream shows the users' names, or only a count,
    # and whether it is told at all (False: the rows only count sockets).
    names = True
    announced = True

    def __init__(self, *, name: str, group: str, presence: str) -> None:
        self.name = name
        self.group = group
        self.presence = presence

    def events(self) -> QuerySet:
        """The stream's stored events (each with `seq` and `frame`)."""
        raise NotImplementedError

    def head(self) -> tuple[QuerySet, str]:
        """The row that holds the stream's head, and its column: read with other heads at once.

        No row means a head of 0.
        """
        raise NotImplementedError


# A kind's resolver: each key (None for a name without one) -> its stream, or the refusal.
Resolver = Callable[[Sequence[str | None], Any], dict[str | None, Stream | Exception]]
# The same for many users at once: each (key, user) -> its stream, or the refusal, in order.
EachResolver = Callable[[Sequence[tuple[str | None, Any]]], list[Stream | Exception]]

_kinds: dict[str, Resolver] = {}
_each: dict[str, EachResolver] = {}


# region: kind-register
def stream_kind_register(
    prefix: str, resolve: Resolver, *, each: EachResolver | None = None
) -> None:
    """Name the streams `prefix:<key>` (or `prefix` alone) with `resolve` (from AppConfig.ready).

    `each`, if given, resolves the keys of many users in a few queries: the
    sockets opening at once (streams/opening.py). Without it they are resolved
    one user at a time.
    """
    _kinds[prefix] = resolve
    if each is not None:
        _each[prefix] = each


def streams_resolve(names: Sequence[str], *, user: Any) -> dict[str, Stream | Exception]:
    """Each name as `user` may follow it, or why not: one resolver call per kind, not per name."""
    wanted: dict[str, dict[str | None, str]] = {}
    found: dict[str, Stream | Exception] = {}
    for name in names:
        prefix, colon, key = name.partition(":")
        if prefix in _kinds:
            wanted.setdefault(prefix, {})[key if colon else None] = name
        else:
            found[name] = ObjectDoesNotExist(f"No such stream kind {prefix[:40]!r}.")
    for prefix, keys in wanted.items():
        resolved = _kinds[prefix](list(keys), user)
        for wanted_key, full_name in keys.items():
            found[full_name] = resolved.get(wanted_key) or ObjectDoesNotExist("No such stream.")
    return found


# endregion


def streams_resolve_each(requests: Sequence[tuple[str, Any]]) -> list[Stream | Exception]:
    """Each (name, user) as that user may follow it, or why not: a kind's `each` resolver
    once for all of them, or its resolver once per user."""
    found: list[Stream | Exception | None] = [None] * len(requests)
    by_kind: dict[str, list[tuple[int, str | None, Any]]] = {}
    for index, (name, user) in enumerate(requests):
        prefix, colon, key = name.partition(":")
        if prefix in _kinds:
            by_kind.setdefault(prefix, []).append((index, key if colon else None, user))
        else:
            found[index] = ObjectDoesNotExist(f"No such stream kind {prefix[:40]!r}.")
    for prefix, asked in by_kind.items():
        each = _each.get(prefix) or partial(_each_user, _kinds[prefix])
        answers = each([(key, user) for _index, key, user in asked])
        for (index, _key, _user), answer in zip(asked, answers, strict=True):
            found[index] = answer or ObjectDoesNotExist("No such stream.")
    return [answer or ObjectDoesNotExist("No such stream.") for answer in found]


def _each_user(
    resolve: Resolver, requests: Sequence[tuple[str | None, Any]]
) -> list[Stream | Exception]:
    """`resolve` called once per user, for all the keys that user asks for."""
    by_user: dict[Any, tuple[Any, set[str | None]]] = {}
    for key, user in requests:
        by_user.setdefault(user.pk, (user, set()))[1].add(key)
    resolved = {pk: resolve(list(keys), user) for pk, (user, keys) in by_user.items()}
    return [
        resolved[user.pk].get(key) or ObjectDoesNotExist("No such stream.")
        for key, user in requests
    ]
