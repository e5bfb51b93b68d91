"""The one writer of the audit trail: append-only, hash-chained, request-aware.

Every service that changes state calls :func:`record` inside its own atomic block, so the audit
row commits with the change or not at all. Rows are chained: ``row_hash = sha256(prev_hash +
canonical JSON of the row)``; appends are serialised (an advisory lock on PostgreSQL, SQLite's
single writer elsewhere) so the chain never forks.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from integrator.middleware import current_request_id
from integrator.models import AuditEvent
from integrator.services.bulk import insert_all

__all__ = ["GENESIS_HASH", "canonical_row", "compute_hash", "record", "record_many", "snapshot"]

GENESIS_HASH = "0" * 64
_ADVISORY_LOCK_ID = 0x1A0D17  # any constant shared by every writer


def _json_default(value: Any) -> str:
    return str(value)


def snapshot(obj: Model, fields: list[str] | None = None) -> dict[str, Any]:
    """A JSON-safe picture of a model instance for before/after (encrypted fields are never
    included: their names are listed as ``"<redacted>"``)."""
    from integrator.crypto import EncryptedJSONField

    data: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        if fields is not None and f.name not in fields:
            continue
        if isinstance(f, EncryptedJSONField):
            data[f.name] = "<redacted>"
            continue
        value = getattr(obj, f.attname)
        data[f.attname] = json.loads(json.dumps(value, default=_json_default))
    return data


def canonical_row(row: AuditEvent) -> str:
    """The canonical serialisation hashed into the chain (stable key order, ISO times)."""
    payload = {
        "occurred_at": row.occurred_at.isoformat(),
        "actor_id": row.actor_id,
        "actor_label": row.actor_label,
        "action": row.action,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "object_repr": row.object_repr,
        "before": row.before,
        "after": row.after,
        "request_id": row.request_id,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_json_default)


def compute_hash(prev_hash: str, row: AuditEvent) -> str:
    """SHA-256 over the previous hash and the row's canonical serialisation."""
    return hashlib.sha256((prev_hash + canonical_row(row)).encode()).hexdigest()


def record(
    action: str,
    *,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor: Any = None,
    actor_label: str = "",
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append one audit row (call inside the caller's transaction).

    No savepoint of its own: the row commits or rolls back with the caller's change, and an error
    here propagates and rolls the caller's transaction back with it (outside any transaction the
    block is a transaction of its own, which the advisory lock needs)."""
    with transaction.atomic(savepoint=False):
        last = _lock_chain()
        row = _row(action, obj=obj, object_type=object_type, object_id=object_id, before=before, after=after,
                   actor=actor, actor_label=actor_label, occurred_at=occurred_at)  # fmt: skip
        row.prev_hash = last
        row.row_hash = compute_hash(row.prev_hash, row)
        row.save()
        return row


def record_many(rows: list[dict[str, Any]]) -> list[AuditEvent]:
    """Append several audit rows at once, chained in the order given (call inside the caller's
    transaction): one lock, one read of the chain's head and one insert for the lot, where
    :func:`record` per row costs all three each time. Each dict holds :func:`record`'s keyword
    arguments (``action`` included). The rows are exactly what :func:`record` would have written
    one after the other."""
    if not rows:
        return []
    with transaction.atomic(savepoint=False):
        prev = _lock_chain()
        made = []
        for fields in rows:
            row = _row(**fields)
            row.prev_hash = prev
            row.row_hash = prev = compute_hash(row.prev_hash, row)
            made.append(row)
        # One INSERT: the ids come from the sequence in the order of the rows, and the chain's lock
        # keeps every other writer out until this transaction ends.
        if connection.vendor == "postgresql":
            # Numbered first, in order, so the rows go in by COPY (``insert_all``).
            for row, pk in zip(made, _numbers(len(made)), strict=True):
                row.pk = pk
            insert_all(made)
            saved = made
        else:
            saved = AuditEvent.objects.bulk_create(made)
        ids = [row.pk for row in saved]
        if any(a is None or b is None or a >= b for a, b in itertools.pairwise(ids)):
            # The chain is read in id order: never commit rows whose ids disagree with it.
            raise RuntimeError("audit rows were not numbered in the order of their chain")
        return saved


def _numbers(count: int) -> list[int]:
    """``count`` new ids from the audit table's sequence, ascending (PostgreSQL; the caller holds
    the chain's lock, which every writer of audit rows takes, so later rows get higher ones)."""
    table = AuditEvent._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
        )
        return sorted(pk for (pk,) in cur.fetchall())


def _lock_chain() -> str:
    """Take the chain's lock (until the transaction ends) and return the hash of its last row."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_ID])
    last = AuditEvent.objects.order_by("-id").values_list("row_hash", flat=True).first()
    return last or GENESIS_HASH


def _row(
    action: str,
    *,
    obj: Model | None = None,
    object_type: str = "",
    object_id: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor: Any = None,
    actor_label: str = "",
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """An unsaved audit row (without its place in the chain)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    row = AuditEvent(
        occurred_at=occurred_at or timezone.now(),
        actor=user,
        actor_label=actor_label or (user.get_username() if user else "system"),
        action=action,
        object_type=object_type or (obj._meta.label if obj is not None else ""),
        object_id=object_id or (str(obj.pk) if obj is not None else ""),
        object_repr=(str(obj)[:200] if obj is not None else ""),
        before=json.loads(json.dumps(before, default=_json_default)) if before is not None else None,
        after=json.loads(json.dumps(after, default=_json_default)) if after is not None else None,
        request_id=current_request_id(),
    )
    # Round-trip the time through the database's precision before hashing.
    row.occurred_at = row.occurred_at.replace(microsecond=row.occurred_at.microsecond)
    return row
