"""``manage.py verify_audit``: walk the audit hash chain and report the first broken link."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrator.models import AuditEvent
from integrator.security.audit_head import HeadMismatch, check_head, last_exported_head
from integrator.services.audit import GENESIS_HASH, compute_hash


class Command(BaseCommand):
    """Recompute every row's hash; any edited, deleted or inserted row breaks the chain. When a
    head was exported (``export_audit_head``), the chain must still reach it: a trail cut short or
    emptied (TRUNCATE by a superuser) fails loudly instead of reading "intact: 0 rows"."""

    help = (
        "Verify the audit trail's hash chain; exits non-zero at the first broken link, or when the "
        "chain is shorter than the last exported head."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Options."""
        parser.add_argument(
            "--head", metavar="FILE", help="Compare with this exported head (default: the last one kept)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Walk the chain in id order, then compare with the last exported head."""
        try:
            saved = last_exported_head(Path(options["head"]) if options["head"] else None)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the exported audit head: {exc}") from exc
        prev = GENESIS_HASH
        count = 0
        for row in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
            if row.prev_hash != prev:
                raise CommandError(
                    f"audit row {row.pk}: prev_hash does not match the row before it (chain broken)"
                )
            expected = compute_hash(prev, row)
            if row.row_hash != expected:
                raise CommandError(f"audit row {row.pk}: content does not match its hash (row altered)")
            prev = row.row_hash
            count += 1
        if saved is not None:
            try:
                check_head(saved)
            except (HeadMismatch, KeyError, ValueError) as exc:
                raise CommandError(
                    f"AUDIT TRAIL SHORTER THAN ITS EXPORTED HEAD: {count} rows now, {saved.get('rows')} "
                    f"when the head was exported at {saved.get('exported_at')}: {exc}"
                ) from exc
            self.stdout.write(self.style.SUCCESS(
                f"audit chain intact: {count} rows, head {prev}; reaches the head exported at {saved.get('exported_at')}"
            ))  # fmt: skip
            return
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {count} rows, head {prev}"))
