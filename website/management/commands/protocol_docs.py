"""`manage.py protocol_docs`: write docs/protocol.md's frame tables and docs/asyncapi.json.

With `--check`, write nothing and fail, naming each file (and each table or
section) that is not what the models generate: `make lint` runs it.
"""

from django.core.management.base import BaseCommand, CommandError

from website import protocol_docs


class Command(BaseCommand):
    help = "Generate docs/protocol.md's frame tables and docs/asyncapi.json from the models."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="Change nothing; fail if either file is stale."
        )

    def handle(self, *args, check: bool = False, **options) -> None:
        try:
            wanted = protocol_docs.generate()
        except ValueError as error:
            raise CommandError(str(error)) from None
        stale = protocol_docs.stale(wanted)
        if check and stale:
            raise CommandError(
                "Not what the models generate (run `make docs`): " + "; ".join(stale)
            )
        if not check:
            for path, text in wanted.items():
                path.write_text(text)
        self.stdout.write("; ".join(f"updated {part}" for part in stale) or "Up to date.")
