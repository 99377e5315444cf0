"""`manage.py tutorial_excerpts`: write every listing of docs/tutorial/ from its source region.

With `--check`, write nothing and fail, naming each listing that differs from its
region and every other problem website/excerpts.py finds: `make lint` runs it.
"""

from django.core.management.base import BaseCommand, CommandError

from website import excerpts


class Command(BaseCommand):
    help = "Regenerate the tutorial's code listings from the regions they name."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="Change nothing; fail if a listing is stale."
        )

    def handle(self, *args, check: bool = False, **options) -> None:
        result = excerpts.check(excerpts.ROOT)
        if result.problems:
            raise CommandError("\n".join(result.problems))
        if check and result.stale:
            raise CommandError(
                "Not what the regions hold (run `make docs`): " + "; ".join(result.stale)
            )
        if not check:
            for path, text in result.wanted.items():
                path.write_text(text)
        self.stdout.write("; ".join(f"updated {part}" for part in result.stale) or "Up to date.")
