"""The committed heads of the benchmark's rooms, read in one query each time it is asked.

Run with the server's environment and kept running beside it: each line read
on standard input is a comma-separated list of room slugs; the answer is one
line of JSON, `{slug: head}`. One process for the whole run, so a step's
reading costs one query, not a Django start-up.
"""

import json
import sys

import django


def main() -> None:
    django.setup()
    from django.db import close_old_connections

    from chat.models import Room

    for line in sys.stdin:
        slugs = [slug for slug in line.strip().split(",") if slug]
        heads = dict(Room.objects.filter(slug__in=slugs).values_list("slug", "last_seq"))
        sys.stdout.write(json.dumps(heads) + "\n")
        sys.stdout.flush()
        close_old_connections()


if __name__ == "__main__":
    main()
