"""The audit chain's head, exported for safekeeping outside the database.

The hash chain shows any edit, insertion or deletion *inside* the trail, but not rows cut off its
end (or a whole chain rebuilt by someone with the database). A head copied regularly to a
separate place (a ticket, a WORM bucket, an e-mail to the auditors) closes that gap:
:func:`check_head` proves the row it names still exists with the same hash and that the chain up
to it is intact.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from integrator.models import AuditEvent
from integrator.services.audit import GENESIS_HASH, compute_hash

__all__ = ["HeadMismatch", "chain_head", "check_head"]


class HeadMismatch(Exception):
    """The trail no longer matches a head exported earlier."""


def chain_head() -> dict[str, Any]:
    """The last row's id and hash, the row count and when they were read (JSON-ready)."""
    last = AuditEvent.objects.order_by("-id").values("id", "row_hash", "occurred_at").first()
    return {
        "head_id": last["id"] if last else 0,
        "head_hash": last["row_hash"] if last else GENESIS_HASH,
        "head_occurred_at": last["occurred_at"].isoformat() if last else None,
        "rows": AuditEvent.objects.count(),
        "exported_at": timezone.now().isoformat(),
    }


def check_head(saved: dict[str, Any]) -> int:
    """Verify the chain from the start up to the saved head; returns the number of rows checked."""
    head_id = int(saved["head_id"])
    prev = GENESIS_HASH
    count = 0
    for row in AuditEvent.objects.filter(id__lte=head_id).order_by("id").iterator(chunk_size=2000):
        if row.prev_hash != prev or row.row_hash != compute_hash(prev, row):
            raise HeadMismatch(f"audit row {row.pk} is broken before the saved head")
        prev = row.row_hash
        count += 1
    if head_id and prev != saved["head_hash"]:
        raise HeadMismatch(
            f"the saved head (row {head_id}, {saved['head_hash'][:12]}…) is not in the trail: "
            "rows were removed or the chain was rebuilt"
        )
    return count
