"""Demo accounts (and, through the apps' services, demo content); safe to run again."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

DEMO_PASSWORD = "demo-pass-123"
DEMO_USERS = ["alice", "bob", "carol"]
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "demo-admin-123"


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
            self.load_users()
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
            self.report(username, created)
        users[ADMIN_USERNAME], created = demo_user_ensure(
            username=ADMIN_USERNAME, password=ADMIN_PASSWORD, superuser=True
        )
        self.report(ADMIN_USERNAME, created)
        return users

    def report(self, username: str, created: bool) -> None:
        if self.verbosity >= 2:
            self.stdout.write(f"{'created' if created else 'kept'} user {username}")
