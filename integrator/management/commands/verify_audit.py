"""``manage.py verify_audit``: walk the audit hash chain and report the first broken link."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from integrator.models import AuditEvent
from integrator.services.audit import GENESIS_HASH, compute_hash


class Command(BaseCommand):
    """Recompute every row's hash; any edited, deleted or inserted row breaks the chain."""

    help = "Verify the audit trail's hash chain; exits non-zero at the first broken link."

    def handle(self, *args: Any, **options: Any) -> None:
        """Walk the chain in id order."""
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
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {count} rows, head {prev}"))
