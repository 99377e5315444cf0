"""Prepare the benchmark's rooms and users in a server's database; print what the sockets need.

Run with the server's environment:

    python -m tests.bench.prepare <room>
        this app's room <room>, and one user's session cookie: {"cookie", "room"}
    python -m tests.bench.prepare --users N [--rooms a,b,c] [--plain]
        N users (bench00000, bench00001, ...), each with a session of its own, and
        the rooms: {"cookies": [...], "rooms": [their slugs]}. `--plain` only makes
        users and sessions (the tutorial baseline has no rooms in its database).

With rooms, user n is a member of room n // (N / rooms), the room its socket
sends in (the rooms workload), as someone who talks in a room has joined it:
a first message would otherwise join its sender, and in a short run nearly
every message is someone's first.

Users and sessions are made as a login makes them (the session holds the user,
its backend and its password hash), without a request per user, so that
thousands take a second. Running it again reuses the users and rooms.
"""

import argparse
import json
import sys

import django


def sessions_create(count: int) -> list[str]:
    """`count` users' session cookies, one session each."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.db import transaction

    User = get_user_model()
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    backend = settings.AUTHENTICATION_BACKENDS[0]
    names = [f"bench{n:05d}" for n in range(count)]
    cookies = []
    with transaction.atomic():
        existing = {user.username: user for user in User.objects.filter(username__in=names)}
        for name in names:
            user = existing.get(name) or User.objects.create_user(username=name)
            store = store_class()
            store[SESSION_KEY] = user._meta.pk.value_to_string(user)
            store[BACKEND_SESSION_KEY] = backend
            store[HASH_SESSION_KEY] = user.get_session_auth_hash()
            store.create()
            cookies.append(f"{settings.SESSION_COOKIE_NAME}={store.session_key}")
    return cookies


def rooms_create(names: list[str]) -> list[str]:
    from django.contrib.auth import get_user_model

    from chat.models import Room
    from chat.services import room_create

    owner, _ = get_user_model().objects.get_or_create(username="bench")
    slugs = []
    for name in names:
        room = Room.objects.filter(name=name).first() or room_create(name=name, created_by=owner)
        slugs.append(room.slug)
    return slugs


def members_add(count: int, slugs: list[str]) -> None:
    """User n (of `count`) a member of room n // (count / rooms), read up to its head."""
    from django.contrib.auth import get_user_model

    from chat.models import Membership, Room

    per_room = max(1, count // len(slugs))
    names = [f"bench{n:05d}" for n in range(count)]
    users = {user.username: user for user in get_user_model().objects.filter(username__in=names)}
    rooms = {room.slug: room for room in Room.objects.filter(slug__in=slugs)}
    Membership.objects.bulk_create(
        [
            Membership(room=room, user=users[name], read=room.last_seq)
            for n, name in enumerate(names)
            if (room := rooms[slugs[min(n // per_room, len(slugs) - 1)]])
        ],
        ignore_conflicts=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("room", nargs="?")
    parser.add_argument("--users", type=int, default=0)
    parser.add_argument("--rooms", default="")
    parser.add_argument("--plain", action="store_true")
    arguments = parser.parse_args()
    django.setup()
    if arguments.room:
        [slug] = rooms_create([arguments.room])
        [cookie] = sessions_create(1)
        answer: dict = {"cookie": cookie, "room": slug}
    else:
        names = [name for name in arguments.rooms.split(",") if name]
        slugs = [] if arguments.plain else rooms_create(names)
        cookies = sessions_create(arguments.users)
        if slugs:
            members_add(arguments.users, slugs)
        answer = {"cookies": cookies, "rooms": slugs}
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
