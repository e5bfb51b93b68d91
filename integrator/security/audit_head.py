"""The audit chain's head, exported for safekeeping outside the database.

The hash chain shows any edit, insertion or deletion *inside* the trail, but not rows cut off its
end (or a whole chain rebuilt by someone with the database). A head copied regularly to a
separate place (a ticket, a WORM bucket, an e-mail to the auditors) closes that gap:
:func:`check_head` proves the row it names still exists with the same hash and that the chain up
to it is intact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from integrator.models import AuditEvent
from integrator.services.audit import GENESIS_HASH, compute_hash

__all__ = ["HeadMismatch", "chain_head", "check_head", "keep_last_head", "last_exported_head"]


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


def keep_last_head(text: str) -> Path:
    """Keep ``text`` (an exported head) as the last exported head, for ``verify_audit`` (0600)."""
    path = Path(settings.AUDIT_HEAD_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text + "\n")
    temporary.replace(path)
    return path


def last_exported_head(path: Path | None = None) -> dict[str, Any] | None:
    """The last head kept by :func:`keep_last_head` (or the one in ``path``), None when none was."""
    path = Path(path or settings.AUDIT_HEAD_FILE)
    if not path.exists():
        return None
    saved: dict[str, Any] = json.loads(path.read_text())
    return saved
