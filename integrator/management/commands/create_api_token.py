"""``manage.py create_api_token``: mint a token for a service user, from a shell.

In the browser a person mints tokens only for themselves (a token acts as its owner). An API
client that is not a person (a BI tool, a till back office) gets its token here, by an operator
who has a shell on the server; the token is printed once and audited as made by this command.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from integrator.security.scopes import WRITE_SCOPES
from integrator.security.tokens import DEFAULT_LIFETIME, MAX_LIFETIME, create_token


class Command(BaseCommand):
    """Create a token owned by ``--owner`` and print it once."""

    help = "Create an API token owned by a (service) user and print it once."

    def add_arguments(self, parser: CommandParser) -> None:
        """Options."""
        parser.add_argument("--owner", required=True, help="Username the token acts as.")
        parser.add_argument("--name", required=True, help="What the token is for (shown on screens).")
        parser.add_argument(
            "--scope", action="append", default=[], choices=sorted(WRITE_SCOPES),
            help="A write scope (repeat for more); none gives a read-only token.",
        )  # fmt: skip
        parser.add_argument(
            "--days", type=int, default=DEFAULT_LIFETIME.days, help=f"Lifetime, at most {MAX_LIFETIME.days}."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Create and print."""
        owner = get_user_model().objects.filter(username=options["owner"]).first()
        if owner is None:
            raise CommandError(f"no user {options['owner']!r}")
        try:
            new = create_token(
                name=options["name"],
                owner=owner,
                scopes=options["scope"],
                expires_at=timezone.now() + timedelta(days=options["days"]),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(new.plaintext)
        self.stderr.write(f"token {new.token.prefix}… for {owner.get_username()}: shown once, keep it safe")
