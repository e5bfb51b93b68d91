"""Named factories for screen and API tests: many realistic rows, fast.

The pipeline tests go through webhooks; these tests need volume (10 and 100 rows for query-count
baselines), so rows are created directly, but always valid: journal entries balance, postings have
their unique key, transactions their canonical document.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from integrator.choices import EntryKind, PostingState, TransactionKind, TransactionStatus
from integrator.models import (
    AuditEvent,
    Channel,
    InboundEvent,
    Job,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    LedgerConnection,
    MappingVersion,
    Posting,
    PostingAttempt,
    TaxCode,
    Transaction,
)
from integrator.services import audit

__all__ = [
    "make_audit_events",
    "make_events",
    "make_jobs",
    "make_postings",
    "make_transactions",
]

BASE_TIME = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.get_fixed_timezone(0))


def _seq() -> str:
    return uuid.uuid4().hex[:10]


def make_transactions(
    channel: Channel,
    count: int,
    *,
    status: str = TransactionStatus.POSTED,
    kind: str = TransactionKind.SALE,
    total: Decimal = Decimal("144.00"),
    day: date | None = None,
    with_event: bool = True,
) -> list[Transaction]:
    """``count`` transactions of a channel, each with an inbox event (like a real webhook)."""
    made = []
    for i in range(count):
        ext = f"F-{_seq()}"
        occurred = BASE_TIME + timedelta(minutes=i)
        txn = Transaction.objects.create(
            channel=channel, kind=kind, external_id=ext, number=ext, content_hash=_seq(), status=status,
            status_reasons=["no revenue account for SKU X"] if status == TransactionStatus.NEEDS_MAPPING else [],
            occurred_at=occurred, business_date=day or occurred.date(), currency=channel.currency, total=total,
            tax_total=Decimal("24.00"), document={"kind": kind, "external_id": ext, "total": str(total)},
        )  # fmt: skip
        if with_event:
            event = InboundEvent.objects.create(
                channel=channel, dedupe_key=f"evt-{ext}", event_type="sale.completed",
                body=f'{{"id": "evt-{ext}"}}', status="processed",
            )  # fmt: skip
            txn.events.add(event)
        made.append(txn)
    return made


def _entry(txn: Transaction, connection: LedgerConnection, accounts: list[LedgerAccount],
           version: MappingVersion | None) -> JournalEntry:  # fmt: skip
    entry = JournalEntry.objects.create(
        kind=EntryKind.TRANSACTION, transaction=txn, transaction_revision=txn.revision, channel=txn.channel,
        connection=connection, mapping_version=version, reference=f"{txn.channel.slug}/sale/{txn.number}",
        date=txn.business_date, currency=txn.currency, memo=f"sale {txn.number}",
    )  # fmt: skip
    JournalLine.objects.bulk_create([
        JournalLine(entry=entry, position=0, account=accounts[0], debit=txn.total, currency=txn.currency, role="clearing"),
        JournalLine(entry=entry, position=1, account=accounts[1], credit=txn.total, currency=txn.currency, role="revenue"),
    ])  # fmt: skip
    return entry


def make_postings(
    channel: Channel,
    count: int,
    *,
    state: str = PostingState.POSTED,
    attempts: int = 1,
) -> list[Posting]:
    """``count`` transactions, each with a balanced journal entry and a posting with attempts."""
    connection = channel.ledger_connection
    assert connection is not None
    accounts = list(LedgerAccount.objects.filter(connection=connection).order_by("code")[:2])
    version = MappingVersion.objects.filter(mapping_set__channel=channel).first()
    now = timezone.now()
    made = []
    status = TransactionStatus.POSTED if state == PostingState.POSTED else TransactionStatus.FAILED
    for txn in make_transactions(channel, count, status=status):
        entry = _entry(txn, connection, accounts, version)
        posting = Posting.objects.create(
            connection=connection, entry=entry, idempotency_key=uuid.uuid4().hex, state=state,
            posting_date=entry.date, attempts=attempts, next_attempt_at=now,
            remote_id=f"R{_seq()}" if state == PostingState.POSTED else "",
            remote_number=f"BK-{_seq()}" if state == PostingState.POSTED else "",
            last_error="" if state == PostingState.POSTED else "Account 4000 is archived",
            error_class="" if state == PostingState.POSTED else "Permanent",
            posted_at=now if state == PostingState.POSTED else None,
        )  # fmt: skip
        PostingAttempt.objects.bulk_create([
            PostingAttempt(posting=posting, number=n + 1, started_at=now, finished_at=now,
                           outcome=state, request={"reference": entry.reference, "access_token": "s3cret"},
                           response={"remote_id": posting.remote_id})
            for n in range(attempts)
        ])  # fmt: skip
        made.append(posting)
    return made


def make_events(channel: Channel, count: int) -> list[InboundEvent]:
    """Inbox rows, each linked to the transaction it became."""
    return [t.events.get() for t in make_transactions(channel, count)]


def make_jobs(count: int, *, status: str = "done") -> list[Job]:
    """Finished (or running) back-fill jobs."""
    made = []
    for i in range(count):
        made.append(Job.objects.create(kind="sync", description=f"Back-fill {_seq()}", status=status,
                                       done=i, total=count, message=f"{i} of {count}"))  # fmt: skip
    return made


def make_audit_events(count: int) -> list[AuditEvent]:
    """Audit rows through the one audit writer (the chain stays valid)."""
    return [
        audit.record(
            "test.event", object_type="tests.Thing", object_id=str(i), after={"n": i}, actor_label="tests"
        )
        for i in range(count)
    ]


def extra_accounts(connection: LedgerConnection, count: int) -> list[LedgerAccount]:
    """More accounts in a chart (codes 7000+)."""
    start = 7000 + LedgerAccount.objects.filter(connection=connection, code__gte="7000").count()
    return [
        LedgerAccount.objects.create(
            connection=connection, code=str(start + i), name=f"Extra {i}", type="expense"
        )
        for i in range(count)
    ]


def extra_tax_codes(connection: LedgerConnection, count: int) -> list[TaxCode]:
    """More tax codes."""
    start = TaxCode.objects.filter(connection=connection).count()
    return [
        TaxCode.objects.create(
            connection=connection, code=f"T{start + i}", name=f"Tax {i}", rate=Decimal("0.05")
        )
        for i in range(count)
    ]


def extra_connections(count: int) -> list[LedgerConnection]:
    """More built-in ledger connections."""
    return [
        LedgerConnection.objects.create(platform="builtin", name=f"Books {_seq()}", functional_currency="GBP")
        for _ in range(count)
    ]


def extra_channels(connection: LedgerConnection, count: int) -> list[Channel]:
    """More channels (through the service: audited, secrets encrypted)."""
    from integrator.services.channels import create_channel

    made = []
    for i in range(count):
        made.append(create_channel(platform="generic", name=f"Shop {i}", slug=f"shop-{_seq()}", currency="GBP",
                                   ledger_connection=connection, webhook_secrets=["s"]))  # fmt: skip
    return made


def as_list(value: Any) -> list[Any]:
    """A model instance or list as a list."""
    return value if isinstance(value, list) else [value]
