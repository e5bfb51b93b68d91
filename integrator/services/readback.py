"""The read-back check of external ledgers: after a posting (and in the daily reconciliation), the
document is read back from the ledger and compared, per account, per tax code and in total, with
what the ledger should hold for our journal (``connectors.ledgers.common.readback``).

The comparison is kept on the posting (``verified_at``, ``readback``); the daily reconciliation
turns each difference into an exception naming the document and the amounts. Reading happens
outside any database transaction; each result is saved in its own short one.
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef
from django.utils import timezone

from connectors.base import ConnectorError, LedgerView, PostResult, ledger_target_class
from connectors.ledgers.common.readback import compare_views
from integrator.choices import PostingState
from integrator.models import LedgerConnection, Posting
from integrator.services.posting import build_posting_document, ledger_target_for

__all__ = ["readable_connections", "verify_posting", "verify_postings"]

log = logging.getLogger(__name__)


def _view_json(view: LedgerView) -> dict[str, Any]:
    return {
        "currency": view.currency,
        "per_account": {k: str(v) for k, v in sorted(view.per_account.items())},
        "per_tax_code": {k: str(v) for k, v in sorted(view.per_tax_code.items())},
        "total": str(view.total),
        "documents": list(view.documents),
    }


def verify_posting(posting_id: Any) -> bool | None:
    """Read one posted document back and store the comparison. Returns True when the ledger holds
    exactly our journal, False on a difference, None when it could not be read (tried again by the
    next reconciliation)."""
    posting = Posting.objects.select_related("connection", "entry", "entry__transaction").get(pk=posting_id)
    if posting.state != PostingState.POSTED:
        return None
    target = ledger_target_for(posting.connection)
    if "read_back" not in type(target).capabilities:
        return None
    try:
        doc = build_posting_document(posting)
        raw = (posting.readback or {}).get("raw") or {}
        result = PostResult(remote_id=posting.remote_id, remote_number=posting.remote_number, raw=raw or
                            _raw_from_attempts(posting))  # fmt: skip
        actual = target.read_back(doc, result)
        expected = target.expected_view(doc)
    except ConnectorError as exc:
        log.warning("read-back of posting %s failed: %s", posting.pk, exc)
        return None
    problems = compare_views(expected, actual)
    Posting.objects.filter(pk=posting.pk).update(
        verified_at=timezone.now(),
        readback={
            "ok": not problems,
            "problems": problems,
            "expected": _view_json(expected),
            "actual": _view_json(actual),
            "raw": dict(result.raw),
        },
    )
    return not problems


def _raw_from_attempts(posting: Posting) -> dict[str, Any]:
    """The connector's own notes of a posting (entity, payment ids), kept on its last attempt."""
    attempt = posting.attempt_rows.exclude(response=None).order_by("-number").first()
    response = attempt.response if attempt is not None else None
    return dict((response or {}).get("raw") or {})


def verify_postings(start: date, end: date) -> dict[str, int]:
    """Read back every posting dated in [start, end] of a ledger that can be read back."""
    counts = {"ok": 0, "different": 0, "unreadable": 0}
    rows = Posting.objects.filter(
        state=PostingState.POSTED,
        connection_id__in=list(readable_connections()),
        posting_date__range=(start, end),
    ).values_list("pk", flat=True)
    for pk in rows.iterator():
        outcome = verify_posting(pk)
        counts["unreadable" if outcome is None else "ok" if outcome else "different"] += 1
    return counts


def readable_connections() -> dict[Any, str]:
    """The ledger connections (id: platform) holding postings whose targets can read documents
    back. Each connection is asked whether it holds a posting (an index probe), instead of listing
    the platforms of all the postings: at a million postings that scan took half a second of every
    reconciliation run, to learn that no external ledger was connected."""
    holding = LedgerConnection.objects.filter(Exists(Posting.objects.filter(connection=OuterRef("pk"))))
    return {pk: platform for pk, platform in holding.values_list("pk", "platform") if _readable(platform)}


def _readable(platform: str) -> bool:
    try:
        return "read_back" in ledger_target_class(platform).capabilities
    except Exception:
        return False


ZERO = Decimal(0)
