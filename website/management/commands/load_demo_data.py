"""Demo accounts (and, through the apps' services, demo content); safe to run again."""

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from chat import services as chat_services
from chat.selectors import room_get
from liveblog import services as liveblog_services
from liveblog.models import EDITORS_GROUP, Post
from liveblog.selectors import liveblog_get
from people.services import profile_update

DEMO_PASSWORD = "demo-pass-123"
DEMO_USERS = ["alice", "bob", "carol"]
# The names the demo accounts are shown by (people/): set when the account is made.
DEMO_NAMES = {"alice": "Alice Martin", "bob": "Bob Okafor", "carol": "Carol Nguyen"}
# carol writes the demo liveblog (as does the admin, a superuser).
DEMO_EDITORS = ["carol"]
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "demo-admin-123"

# (name, description, [(author, body), ...])
DEMO_ROOMS = [
    (
        "Lobby",
        "Say hello.",
        [
            ("alice", "Welcome to the lobby! Messages here are live in every open tab."),
            ("bob", "Hi *everyone*. Try opening this room in two windows."),
            ("carol", "Edits and deletes show up live too, and `code` renders as code."),
            ("alice", "The docs are at https://docs.djangoproject.com/ if you get stuck."),
            # carol has not read it: the lobby shows her a mention.
            ("bob", "@carol, is the liveblog ready for today?"),
        ],
    ),
    (
        "Django Channels",
        "Consumers, groups and channel layers.",
        [
            ("bob", "Why does the server join the group *before* replaying history?"),
            ("carol", "So an event committed during the replay is either replayed or queued."),
            (
                "alice",
                "And the client drops any seq it has already applied, so nothing shows twice.",
            ),
        ],
    ),
    ("Random", "Anything goes.", [("carol", "Is anyone else here on a phone?")]),
]

# A private room alice owns and bob is in: (name, description, members, [(author, body)]).
DEMO_PRIVATE_ROOMS = [
    (
        "Launch plans",
        "Only alice and bob can find it.",
        ["bob"],
        [
            ("alice", "This room is private: only the people I add can read it."),
            ("bob", "Good. Shall we tell carol about the launch party?"),
        ],
    ),
]
# Direct conversations: (the people, [(author, body)]).
DEMO_DIRECT = [
    (
        ["alice", "bob"],
        [
            ("bob", "A direct message: just the two of us."),
            ("alice", "Mention someone with @ and their username, like @carol."),
        ],
    ),
]

DEMO_LIVEBLOG = {
    "title": "Release day: the Channels reference app",
    "slug": "release-day",
    "description": "Live coverage of the launch, from the first deploy to the last bug report.",
}
# (body, options), oldest first.
DEMO_POSTS: list[tuple[str, dict[str, Any]]] = [
    (
        "## Welcome\n\nThis page updates **by itself**. Keep it open in another window and "
        "publish something from the editor's desk (log in as carol).",
        {"pinned": True},
    ),
    (
        "The first deploy is **live**: one daphne, PostgreSQL and Redis behind nginx.",
        {"key_event": True},
    ),
    (
        "> Every change is committed with a sequence number first, then pushed.\n\n"
        "That is the one rule the whole app follows.",
        {},
    ),
    (
        "What a reader's browser does after a dropped connection:\n\n"
        "1. reconnect with backoff and jitter\n"
        "2. ask for everything after the last seq it applied\n"
        "3. apply each event once, in order",
        {},
    ),
    ("Scaled out to **two** socket servers; both see every update.", {"key_event": True}),
    ("Retrospective notes go here once the dust settles.", {"state": Post.State.DRAFT}),
]


def demo_user_ensure(*, username: str, password: str, superuser: bool = False):
    """The demo user `username`, created with `password` unless it exists already."""
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user, False
    if superuser:
        user = User.objects.create_superuser(
            username=username, email=f"{username}@example.com", password=password
        )
    else:
        user = User.objects.create_user(
            username=username, email=f"{username}@example.com", password=password
        )
    return user, True


class Command(BaseCommand):
    help = "Create the demo accounts and content. Running it again changes nothing."

    def handle(self, *args, **options) -> None:
        self.verbosity = options["verbosity"]
        with transaction.atomic():
            users = self.load_users()
        self.load_rooms(users)
        self.load_private_rooms(users)
        self.load_direct(users)
        self.load_liveblog(users)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo accounts: {', '.join(DEMO_USERS)} (password {DEMO_PASSWORD}); "
                f"{ADMIN_USERNAME} (password {ADMIN_PASSWORD}) for /admin/."
            )
        )

    def load_users(self) -> dict:
        """The demo users by username, the admin included."""
        users = {}
        for username in DEMO_USERS:
            users[username], created = demo_user_ensure(username=username, password=DEMO_PASSWORD)
            if created:
                profile_update(user=users[username], display_name=DEMO_NAMES[username])
            self.report(username, created)
        users[ADMIN_USERNAME], created = demo_user_ensure(
            username=ADMIN_USERNAME, password=ADMIN_PASSWORD, superuser=True
        )
        self.report(ADMIN_USERNAME, created)
        editors = Group.objects.get_or_create(name=EDITORS_GROUP)[0]
        for username in DEMO_EDITORS:
            users[username].groups.add(editors)
        return users

    def load_rooms(self, users: dict) -> None:
        """Demo rooms and their conversations, through the chat services."""
        for name, description, lines in DEMO_ROOMS:
            if room_get(slug=slugify(name)) is not None:
                continue
            room = chat_services.room_create(
                name=name, description=description, created_by=users["alice"]
            )
            self.load_messages(room, users, lines)
            if self.verbosity >= 2:
                self.stdout.write(f"created room {name}")

    def load_private_rooms(self, users: dict) -> None:
        """Private rooms alice owns, with their members, through the chat services."""
        for name, description, members, lines in DEMO_PRIVATE_ROOMS:
            if room_get(slug=slugify(name)) is not None:
                continue
            room = chat_services.room_create(
                name=name, description=description, created_by=users["alice"], kind="private"
            )
            for member in members:
                chat_services.member_add(room=room, by=users["alice"], user=users[member])
            self.load_messages(room, users, lines)
            if self.verbosity >= 2:
                self.stdout.write(f"created private room {name}")

    def load_direct(self, users: dict) -> None:
        """Direct conversations; opening one again finds it, and its messages are kept."""
        for people, lines in DEMO_DIRECT:
            first, *others = (users[name] for name in people)
            room = chat_services.dm_open(by=first, users=others)
            self.load_messages(room, users, lines)

    def load_messages(self, room, users: dict, lines: list[tuple[str, str]]) -> None:
        # A message with a client_id its author already used in the room is not sent again.
        for number, (author, body) in enumerate(lines):
            chat_services.message_create(
                room=room, author=users[author], body=body, client_id=f"demo-{number}"
            )

    def load_liveblog(self, users: dict) -> None:
        """A liveblog with a pinned update, key events, a draft and a scheduled post."""
        if liveblog_get(slug=DEMO_LIVEBLOG["slug"]) is not None:
            return
        editor = users["carol"]
        liveblog = liveblog_services.liveblog_create(by=editor, **DEMO_LIVEBLOG)
        for body, options in DEMO_POSTS:
            liveblog_services.post_create(liveblog=liveblog, by=editor, body=body, **options)
        liveblog_services.post_create(
            liveblog=liveblog,
            by=editor,
            body="Scheduled an hour ahead: the scheduler publishes this on time.",
            state=Post.State.SCHEDULED,
            publish_at=timezone.now() + timedelta(hours=1),
        )
        if self.verbosity >= 2:
            self.stdout.write(f"created liveblog {liveblog.title}")

    def report(self, username: str, created: bool) -> None:
        if self.verbosity >= 2:
            self.stdout.write(f"{'created' if created else 'kept'} user {username}")
