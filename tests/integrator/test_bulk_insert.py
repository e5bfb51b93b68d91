"""``insert_all`` (issue 19): new rows by ``COPY`` on PostgreSQL store exactly what ``save()``
stores, raise Django's own errors, and count as one statement; elsewhere it is ``bulk_create``.

Each case saves one object the ordinary way and inserts its twin with ``insert_all``, then reads
both back through the ORM and compares every column.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from integrator.models import AuditEvent, Channel, InboundEvent, LedgerConnection, Transaction
from integrator.services import audit
from integrator.services.bulk import insert_all

pytestmark = pytest.mark.django_db


def _columns(obj: Any) -> dict[str, Any]:
    """Every column of ``obj`` as the ORM reads it back, but its key and timestamps."""
    fresh = type(obj).objects.get(pk=obj.pk)
    skip = {"id", "created_at", "updated_at", "external_id", "name", "slug"}
    return {
        f.attname: getattr(fresh, f.attname) for f in type(obj)._meta.concrete_fields if f.attname not in skip
    }


def test_encrypted_json_and_plain_columns_read_back_as_saved(ledger: LedgerConnection) -> None:
    """A channel: encrypted JSON (secrets), plain JSON (settings), a foreign key given as an object,
    booleans, text with quotes, tabs and a newline (COPY's own escapes)."""
    fields = {
        "platform": "generic",
        "base_url": "https://till.example/api?a=1&b=2",
        "currency": "GBP",
        "timezone": "Africa/Accra",
        "credentials": {"token": "t\\ok\ten\n'\"", "nested": [1, "two", None]},
        "webhook_secrets": ["s3cret", "rotated\\secret"],
        "settings": {"document_prefix": "AC-", "decimal": "1.10", "empty": {}},
        "ledger_connection": ledger,
    }
    saved = Channel(name="Saved", slug="saved", **fields)
    saved.save()
    copied = Channel(name="Copied", slug="copied", **fields)
    insert_all([copied])
    assert not copied._state.adding
    assert _columns(copied) == _columns(saved)
    raw = Channel.objects.values_list("credentials", flat=True).get(pk=copied.pk)
    assert raw == fields["credentials"]
    with connection.cursor() as cur:  # stored encrypted, not as the plain JSON
        key = Channel._meta.pk.get_db_prep_value(copied.pk, connection)  # type: ignore[union-attr]
        cur.execute("SELECT credentials, webhook_secrets FROM integrator_channel WHERE id = %s", [key])
        stored = str(cur.fetchone())
    assert "token" not in stored and "s3cret" not in stored


def test_timestamps_set_on_save_decimals_and_dates(channel: Channel) -> None:
    """A transaction: ``created_at``/``updated_at`` are stamped as a save stamps them, and the
    object knows them; decimals keep their scale; its document is JSON."""
    fields = {
        "channel": channel,
        "kind": "sale",
        "number": "A\tB",
        "occurred_at": "2026-11-20T10:00:00+00:00",
        "business_date": date(2026, 11, 20),
        "currency": "GBP",
        "total": Decimal("144.00"),
        "tax_total": Decimal("24.00"),
        "document": {"kind": "sale", "total": "144.00", "lines": [{"name": "Kente \u00e9\u20ac"}]},
        "content_hash": "0" * 64,
    }
    saved = Transaction.objects.create(external_id="saved", **fields)
    copied = Transaction(external_id="copied", **fields)
    insert_all([copied])
    assert copied.created_at is not None and copied.updated_at is not None
    back = Transaction.objects.get(pk=copied.pk)
    assert back.created_at == copied.created_at
    assert _columns(copied) == _columns(saved)
    assert str(back.total) == str(Transaction.objects.get(pk=saved.pk).total)  # the same scale


def test_rows_the_database_numbers_and_links(channel: Channel) -> None:
    """A many-to-many link has an automatic key: the database numbers it."""
    txn = Transaction.objects.create(channel=channel, kind="sale", external_id="L-1", occurred_at="2026-11-20T10:00:00Z",
                                     business_date=date(2026, 11, 20), currency="GBP", total=Decimal(1),
                                     tax_total=Decimal(0), document={}, content_hash="x")  # fmt: skip
    events = [
        InboundEvent.objects.create(channel=channel, dedupe_key=f"e-{i}", event_type="x", body="{}")
        for i in range(3)
    ]
    through = Transaction.events.through
    insert_all([through(transaction_id=txn.pk, inboundevent_id=e.pk) for e in events])
    assert set(txn.events.values_list("pk", flat=True)) == {e.pk for e in events}


def test_a_duplicate_raises_django_integrity_error_and_one_statement_is_counted(channel: Channel) -> None:
    fields = {"channel": channel, "kind": "sale", "external_id": "DUP", "occurred_at": "2026-11-20T10:00:00Z",
              "business_date": date(2026, 11, 20), "currency": "GBP", "total": Decimal(1),
              "tax_total": Decimal(0), "document": {}, "content_hash": "x"}  # fmt: skip
    with CaptureQueriesContext(connection) as ctx:
        insert_all([Transaction(**fields)])
    copies = [q for q in ctx.captured_queries if "integrator_transaction" in q["sql"]]
    assert len(copies) == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_all([Transaction(**fields)])
    assert Transaction.objects.filter(external_id="DUP").count() == 1


def test_a_batch_of_audit_rows_is_chained_and_numbered_in_order(db: Any) -> None:
    """``record_many`` numbers its rows from the sequence before inserting them: the chain, read
    in id order, verifies, and a row appended one by one afterwards follows it."""
    made = audit.record_many(
        [
            {"action": "test.batch", "object_type": "x", "object_id": str(uuid.uuid4()), "after": {"n": n}}
            for n in range(5)
        ]
    )
    audit.record("test.single", object_type="x", object_id="1")
    rows = list(AuditEvent.objects.order_by("id"))
    assert [r.pk for r in rows[-6:-1]] == [r.pk for r in made]
    prev = audit.GENESIS_HASH
    for row in rows:
        assert row.prev_hash == prev
        assert row.row_hash == audit.compute_hash(prev, row)
        prev = row.row_hash
