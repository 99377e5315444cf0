"""Each user's personal stream: sequenced, stored and resumable like any other stream.

It carries what concerns one user alone, whichever room it happened in: that
their read position moved (so every tab clears the same badge), that they
joined or were removed from a room, that someone mentioned them. Services
append to it in the transaction of the change that caused the event; every
tab of the user follows it (the multiplexed socket joins it on connect).
"""

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.db.models import QuerySet

from .log import stream_append, stream_claim
from .models import PersonalEvent, PersonalStream
from .registry import Stream
from .schemas import Frame

# The stream's name on the multiplexed socket, the same for every user: a
# socket carries one user's stream, its own.
PERSONAL = "user"


def personal_group(user_id: int) -> str:
    """The channel-layer group of the processes holding a tab of this user."""
    return f"user.{user_id}.events"


def personal_append(*, user, frame: type[Frame], subject_id: int = 0, **fields: Any) -> int:
    """Append `frame(seq=<next>, **fields)` to `user`'s stream; broadcast it after commit.

    Call it inside the service's transaction, so that the event exists if and
    only if the change it reports does. Returns the event's seq.
    """
    with transaction.atomic():
        stream, _ = PersonalStream.objects.get_or_create(user=user)
        seq = stream_claim(stream)
        stream_append(
            events=stream.events,
            group=personal_group(user.pk),
            seq=seq,
            frame=frame(seq=seq, **fields).model_dump(),  # type: ignore[call-arg]
            subject_id=subject_id,
        )
    return seq


def personal_head(*, user) -> int:
    """The seq of the user's latest personal event (0 before the first)."""
    head = PersonalStream.objects.filter(user=user).values_list("last_seq", flat=True).first()
    return head or 0


def personal_events(*, user) -> QuerySet[PersonalEvent]:
    return PersonalEvent.objects.filter(stream_id=user.pk)


# The stream on a socket ---------------------------------------------------------------


class UserStream(Stream):
    """A user's personal stream, as their own socket follows it: it only listens."""

    listen_only = "The personal stream only listens."
    # Its presence row counts the socket towards SOCKETS_PER_USER; nobody is told of it.
    announced = False
    names = False

    def __init__(self, *, user) -> None:
        group = personal_group(user.pk)
        super().__init__(name=PERSONAL, group=group, presence=group)
        self.user = user

    def events(self) -> QuerySet[PersonalEvent]:
        return personal_events(user=self.user)

    def head(self) -> tuple[QuerySet, str]:
        return PersonalStream.objects.filter(user=self.user), "last_seq"


def personal_resolve(keys: Sequence[str | None], user) -> dict[str | None, Stream | Exception]:
    """`user` names only the user's own stream: the kind has no key."""
    return {
        key: UserStream(user=user)
        if key is None and user.is_authenticated
        else ObjectDoesNotExist("No such stream.")
        for key in keys
    }
