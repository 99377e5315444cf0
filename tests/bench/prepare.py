"""Prepare a benchmark room in our app's database; print the session cookie and the room.

Run with the server's environment: `python -m tests.bench.prepare <room>`.
"""

import json
import sys

import django


def main(room_slug: str) -> None:
    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from chat.models import Room
    from chat.services import room_create

    user, _ = get_user_model().objects.get_or_create(username="bench")
    if not Room.objects.filter(slug=room_slug).exists():
        room_create(name=room_slug, created_by=user)
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    cookie = f"{name}={client.cookies[name].value}"
    sys.stdout.write(json.dumps({"cookie": cookie, "room": room_slug}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
