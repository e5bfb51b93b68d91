"""The spine, stage by stage: normalize -> validate -> journal -> post.

Each stage is idempotent and can be re-run from the row before it:

* :func:`process_inbound_event` parses an inbox row (outside any DB transaction: a connector may
  fetch related objects from the vendor), then upserts the canonical documents as Transactions.
  Workers do the same for a claimed batch of rows in one transaction (:func:`process_event_batch`,
  issue 19), in the task receipt wakes them with (:func:`process_waiting_events`).
* :func:`advance_transaction` validates, journals with the mapping version in force on the
  transaction's business day, and creates the Posting (or waits for the daily summary).
  A changed document (new revision) is never edited in the books: the entry already made is
  reversed and a new one is made.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, DataError, transaction
from django.db.models import F, Q
from django.utils import timezone

from connectors.base import ConnectorError, MalformedPayload
from integrator.canonical import CanonicalDocument, Invoice, Payment, Payout, Refund, Sale
from integrator.choices import EntryKind, EventStatus, PostingMode, RuleKind, TransactionStatus
from integrator.models import (
    Channel,
    InboundEvent,
    JournalEntry,
    JournalLine,
    Transaction,
    TransactionPayment,
)
from integrator.services import audit
from integrator.services.channels import share_channels, source_for
from integrator.services.event_checks import storable_text, unstorable_reason
from integrator.services.inventory.sales import books_remembered
from integrator.services.inventory.spine import on_journal
from integrator.services.journal import (
    DraftLine,
    NeedsMapping,
    SettlementLot,
    Unbalanced,
    apply_rate,
    create_entry,
    draft_lines,
    draft_specs,
    reversal_specs,
)
from integrator.services.journal_batch import journal_new_transactions
from integrator.services.mappings import RuleBook, version_in_force
from integrator.services.posting import create_posting
from integrator.services.rates import NeedsRate, RateQuote, resolve_rate
from integrator.services.transactions import (
    document_of,
    insert_new_transactions,
    upsert_transaction,
    validate_document,
)

__all__ = [
    "advance_transaction",
    "converted",
    "display_number",
    "entry_fields",
    "process_event_batch",
    "process_event_or_mark_failed",
    "process_events_from",
    "process_inbound_event",
    "process_received_events",
    "process_waiting_events",
    "retry_failed_events",
    "retry_held_transactions",
]

log = logging.getLogger(__name__)
MAX_EVENT_ATTEMPTS = 10
#: How often the scheduled sweep retries failed events (``integrator.tasks.ensure_schedules``).
RETRY_SWEEP_MINUTES = 5
#: How long a batch's claim on its inbox rows holds. A worker that dies leaves its rows
#: ``received``: the sweep processes them one by one (it ignores claims), and other batches may
#: take them once the claim lapses.
CLAIM_LEASE = timedelta(minutes=5)
#: While a batch advances its transactions, their audit rows are gathered here and appended
#: together at the end of the batch (one lock of the chain, one insert).
_AUDIT_ROWS: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar(
    "pipeline_audit_rows", default=None
)


def _mark_event(event_id: Any, status: str, error: str = "") -> None:
    """Set an inbox row's final status; the reason is made storable first (a vendor's message or a
    quoted id may hold a lone surrogate or a NUL), so no reason can leave an event unmarked."""
    InboundEvent.objects.filter(pk=event_id).update(
        status=status, error=storable_text(error)[:4000], processed_at=timezone.now()
    )


def process_inbound_event(event_id: Any) -> list[Transaction]:
    """Normalize one inbox row into transactions and push each through the spine.

    Re-running it is harmless: the upsert sees the same content hash and changes nothing. Every
    event leaves here processed, ignored, quarantined with a reason (it cannot be read or stored:
    a person looks, fixes the cause and re-processes) or failed with a reason and a retry time;
    none stays ``received`` (issue 14).
    """
    event = InboundEvent.objects.select_related("channel").get(pk=event_id)
    if event.status in (EventStatus.PROCESSED, EventStatus.IGNORED, EventStatus.QUARANTINED):
        return []
    InboundEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    docs = _read_event(event)
    if docs is None:
        return []
    if not docs:
        _mark_event(event.pk, EventStatus.IGNORED)
        return []
    changed = _store_event(event, docs, mark=True)
    if changed is None:
        return []
    for txn in changed:
        advance_transaction(txn.pk)
    return changed


def _read_event(event: InboundEvent) -> list[CanonicalDocument] | None:
    """The canonical documents of an inbox row (outside any database transaction: a connector may
    fetch from its vendor), or None once the row is marked quarantined (it cannot be read) or
    failed (the vendor could not be reached)."""
    try:
        source = source_for(event.channel)
        payload = source.decode_payload(event.body, event.headers or {})
        docs = source.parse_event(event.event_type, payload)
        for doc in docs:
            reason = unstorable_reason(doc)
            if reason is not None:
                raise MalformedPayload(reason)
    except UNREADABLE as exc:
        _quarantine(event.pk, f"cannot read the event: {_describe(exc)}")
        return None
    except ConnectorError as exc:
        _fail(event.pk, f"{type(exc).__name__}: {exc.vendor_message}")
        return None
    return docs


def _store_event(
    event: InboundEvent, docs: list[CanonicalDocument], *, mark: bool
) -> list[Transaction] | None:
    """Upsert an event's documents as transactions, all or none (its own transaction, or a
    savepoint inside a batch's), and with ``mark`` mark the row processed in the same block (a
    batch marks its rows together); the transactions whose content changed, or None once the row
    is marked quarantined or failed."""
    changed: list[Transaction] = []
    try:
        with transaction.atomic():
            for doc in docs:
                result = upsert_transaction(event.channel, doc, event)
                if result.changed:
                    changed.append(result.transaction)
            if mark:
                _mark_event(event.pk, EventStatus.PROCESSED)
    except (DataError, *UNREADABLE) as exc:
        # What the checks above did not foresee and the database refused: the event, not the
        # database, is at fault, and a retry would fail the same way.
        _quarantine(event.pk, f"cannot store the event: {_describe(exc)}")
        return None
    except DatabaseError as exc:
        _fail(event.pk, f"the database refused the write: {type(exc).__name__}: {exc}")
        return None
    return changed


def claim_events(ids: list[Any], *, own: Any = None) -> list[InboundEvent]:
    """Claim the inbox rows among ``ids`` that are still ``received`` and that no other batch holds
    (or whose claim lapsed), counting an attempt on each; ``own`` (the row whose task this is) is
    taken whatever claim it has. Returns the claimed rows, oldest first, with their channels."""
    token = uuid.uuid4().hex
    now = timezone.now()
    claimed = {"claimed_by": token, "claimed_until": now + CLAIM_LEASE, "attempts": F("attempts") + 1}
    received = InboundEvent.objects.filter(status=EventStatus.RECEIVED)
    if own is not None:
        received.filter(pk=own).update(**claimed)
    others = [pk for pk in ids if pk != own]
    if others:
        received.filter(pk__in=others).filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        ).update(**claimed)
    events = list(InboundEvent.objects.filter(claimed_by=token).order_by("received_at"))
    share_channels(events)
    return events


def process_event_batch(ids: list[Any], *, own: Any = None) -> int:
    """Process a batch of inbox rows in one database transaction (issue 19); returns how many
    were claimed.

    Every row ends exactly as :func:`process_inbound_event` would leave it: each is read outside
    any transaction (marked quarantined, failed or ignored there when it must be), then in one
    transaction the documents not stored yet are inserted with one statement per table, and the
    others (or all, should that insert be refused) are upserted each row in a savepoint of its own
    (a row the database refuses is quarantined or failed without touching the others); the stored
    rows are marked processed together, their transactions are journaled and their postings
    created, and the audit rows of the lot are appended together last. Should the batch's transaction fail for a
    reason no savepoint caught (a lost connection, a deadlock), every row of it is processed again
    on its own, so one bad event never holds up another.
    """
    return _process_claimed(claim_events(ids, own=own))


def _process_claimed(events: list[InboundEvent]) -> int:
    """Read, book and mark claimed inbox rows as :func:`process_event_batch` describes."""
    readable: list[tuple[InboundEvent, list[CanonicalDocument]]] = []
    ignored: list[Any] = []
    for event in events:
        docs = _read_event(event)
        if docs is None:
            continue
        if docs:
            readable.append((event, docs))
        else:
            ignored.append(event.pk)
    if ignored:
        InboundEvent.objects.filter(pk__in=ignored).update(
            status=EventStatus.IGNORED, error="", processed_at=timezone.now()
        )
    if not readable:
        return len(events)
    try:
        with transaction.atomic():
            _book_batch(readable)
    except Exception:
        log.exception("a batch of %d events failed as a whole; processing them one by one", len(readable))
        for event, _ in readable:
            process_event_or_mark_failed(event.pk)
    return len(events)


def _book_batch(readable: list[tuple[InboundEvent, list[CanonicalDocument]]]) -> None:
    """Store, mark and journal a batch's readable events (inside the batch's transaction)."""
    stored: list[Any] = []
    changed: list[Transaction] = []
    try:
        # Documents not stored yet (most of a busy day): one INSERT per table for the lot.
        with transaction.atomic():
            fresh, rest = insert_new_transactions(readable)
    except (DatabaseError, *UNREADABLE):
        fresh, rest = {}, readable  # another worker stored one meanwhile, or one is refused
    for event, _ in readable:
        if event.pk in fresh:
            stored.append(event.pk)
            changed.extend(fresh[event.pk])
    for event, docs in rest:
        made = _store_event(event, docs, mark=False)
        if made is not None:
            stored.append(event.pk)
            changed.extend(made)
    if stored:
        InboundEvent.objects.filter(pk__in=stored).update(
            status=EventStatus.PROCESSED, error="", processed_at=timezone.now()
        )
    rows: list[dict[str, Any]] = []
    gathering = _AUDIT_ROWS.set(rows)
    try:
        with books_remembered():
            # Plain new sales are journaled together (one statement per table), the rest alone.
            alone = journal_new_transactions(
                (txn.pk for txn in changed),
                audit_rows=rows,
                inserted=[txn for txns in fresh.values() for txn in txns],
            )
            for pk in alone:
                kept = len(rows)
                try:
                    advance_transaction(pk)
                except Exception:
                    # As on its own: the event is processed and the transaction waits, received,
                    # for a person or the next re-process; its savepoint (and audit row) is undone.
                    del rows[kept:]
                    log.exception("journaling transaction %s raised", pk)
    finally:
        _AUDIT_ROWS.reset(gathering)
    audit.record_many(rows)  # last: the chain's lock is held only until the commit


def _advance_all(pks: list[Any]) -> None:
    """Journal each of ``pks`` (refunds that waited for the document they give money back for)."""
    for pk in pks:
        advance_transaction(pk)


def _waiting(limit: int, now: Any, *, exclude: Any = None) -> list[Any]:
    """Keys of up to ``limit`` inbox rows still ``received`` that no live batch holds, oldest first."""
    rows = InboundEvent.objects.filter(status=EventStatus.RECEIVED).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    if exclude is not None:
        rows = rows.exclude(pk=exclude)
    return list(rows.order_by("received_at").values_list("pk", flat=True)[:limit])


def process_events_from(event_id: Any) -> None:
    """The worker's task for one inbox row: process it with up to ``PROCESS_BATCH_SIZE - 1`` other
    rows still waiting (oldest first) as one batch. A row another batch is working on is left to
    it; with a batch size of 1 every row is processed on its own."""
    size = settings.PROCESS_BATCH_SIZE
    if size <= 1:
        process_event_or_mark_failed(event_id)
        return
    now = timezone.now()
    if InboundEvent.objects.filter(pk=event_id, claimed_until__gte=now).exists():
        return  # a live batch holds it (the sweep takes it should that worker die)
    others = _waiting(size - 1, now, exclude=event_id)
    process_event_batch([event_id, *others], own=event_id)


def process_waiting_events() -> int:
    """The task receipt queues (``integrator.services.wake``): process the inbox rows waiting to be
    processed, oldest first, ``PROCESS_BATCH_SIZE`` at a time, for at most
    ``PROCESS_BATCHES_PER_TASK`` batches; returns how many rows it claimed.

    The wake mark is cleared before the first claim, so every row committed before a receipt saw
    the mark set is claimed here or by a later task. After claiming a full batch the task wakes the
    workers again, so another worker shares the rows behind it, and a task that stops after its
    last batch leaves one queued to go on (inline, with no cluster, it goes on until none wait)."""
    from django_q.conf import Conf

    from integrator.services.wake import processing_started, wake_processing

    processing_started()
    size = settings.PROCESS_BATCH_SIZE
    claimed = batches = 0
    while True:
        waiting = _waiting(size, timezone.now())
        if not waiting:
            return claimed
        events = claim_events(waiting)
        claimed += len(events)
        batches += 1
        full = len(waiting) >= size
        if full and not Conf.SYNC:
            try:
                wake_processing()  # the rows behind this batch: another worker, or this task's successor
            except Exception:  # the broker down: book this batch anyway; the sweep finds the rest
                log.exception("could not wake another worker for the rows behind this batch")
        if size <= 1:  # batching off: each row on its own, as it always was
            for event in events:
                process_event_or_mark_failed(event.pk)
        else:
            _process_claimed(events)
        if not full or (not Conf.SYNC and batches >= settings.PROCESS_BATCHES_PER_TASK):
            return claimed


#: What reading or checking a hostile event can raise: its fault, never the worker's.
UNREADABLE = (
    MalformedPayload,
    ValueError,  # also UnicodeError, json.JSONDecodeError
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    ArithmeticError,  # decimal.InvalidOperation, OverflowError
    RecursionError,
)


def _describe(exc: BaseException) -> str:
    """A reason a person can read: decimal errors say only their class, so say what it means."""
    if isinstance(exc, ArithmeticError):
        return f"{type(exc).__name__}: a number too large or too precise for the books to compute with"
    return f"{type(exc).__name__}: {exc}"


def _quarantine(event_id: Any, reason: str) -> None:
    _mark_event(event_id, EventStatus.QUARANTINED, reason)
    log.warning("quarantined event %s: %s", event_id, reason[:500])


def _fail(event_id: Any, reason: str) -> None:
    """Mark the event failed with when the sweep (``retry_failed_events``) will try it again."""
    retry_at = timezone.now() + timedelta(minutes=RETRY_SWEEP_MINUTES)
    _mark_event(event_id, EventStatus.FAILED, f"{reason} (retried from {retry_at:%Y-%m-%d %H:%M} UTC)")
    log.warning("event %s failed, retried from %s: %s", event_id, retry_at.isoformat(), reason[:500])


def _previous_entry(txn: Transaction) -> JournalEntry | None:
    return (
        JournalEntry.objects.filter(transaction=txn, kind=EntryKind.TRANSACTION, superseded=False)
        .exclude(transaction_revision=txn.revision)
        .order_by("-transaction_revision")
        .first()
    )


def _reverse(entry: JournalEntry, channel: Channel) -> JournalEntry | None:
    """Reverse an entry made for an older revision (never edit what was posted).

    In daily-summary mode an entry that no summary carries yet has reached no ledger: it is only
    marked superseded, and the summary will carry the new revision instead.
    """
    if channel.posting_mode == PostingMode.DAILY_SUMMARY and entry.summary_id is None:
        JournalEntry.objects.filter(pk=entry.pk).update(superseded=True)
        return None
    reversal = create_entry(
        line_specs=reversal_specs(entry),
        reference=f"{entry.reference}/rev",
        date=entry.date,
        currency=entry.currency,
        memo=f"Reversal of {entry.reference}: the source document changed",
        channel_id=entry.channel_id,
        connection_id=entry.connection_id,
        kind=EntryKind.REVERSAL,
        txn=entry.transaction,
        mapping_version_id=entry.mapping_version_id,
        reverses=entry,
        location=entry.location,
        register=entry.register,
        number=f"{entry.number or entry.reference}-R",
        functional_currency=entry.functional_currency,
        exchange_rate=entry.exchange_rate,
        rate_source=entry.rate_source,
        rate_provider=entry.rate_provider,
        rate_date=entry.rate_date,
    )
    JournalEntry.objects.filter(pk=entry.pk).update(superseded=True)
    if channel.posting_mode == PostingMode.PER_TRANSACTION:
        create_posting(reversal)
    # In daily-summary mode the reversal waits for the next summary of the channel.
    return reversal


def _reference(txn: Transaction) -> str:
    """Our unique reference of a transaction's entry: by the source's id, never its number (tills
    start their ticket numbers again every day)."""
    base = f"{txn.channel.slug}/{txn.kind}/{txn.external_id}"
    return base if txn.revision == 1 else f"{base}/r{txn.revision}"


def converted(
    txn: Transaction, doc: CanonicalDocument, book: RuleBook, lines: list[DraftLine]
) -> tuple[list[DraftLine], RateQuote]:
    """A transaction's drafted lines with their functional amounts, at the rate in force for its
    day (the source's stated rate, the table's, or the ledger's), and that rate; raises
    :class:`NeedsRate` when there is none yet."""
    channel = txn.channel
    connection = channel.ledger_connection
    assert connection is not None  # journaled only with a ledger connection
    functional = connection.functional_currency
    quote = resolve_rate(
        txn.currency,
        functional,
        txn.business_date,
        connection=connection,
        stated=getattr(doc, "exchange_rates", ()),
        channel_currency=channel.currency,
    )
    fx_rule = book.find(RuleKind.FX_REALISED)
    return apply_rate(lines, quote.rate, txn.currency, functional, fx_rule=fx_rule), quote


def entry_fields(
    txn: Transaction,
    doc: CanonicalDocument,
    lines: list[DraftLine],
    version: Any,
    quote: RateQuote,
    *,
    taken: set[tuple[Any, str, str]] | None = None,
) -> dict[str, Any]:
    """The arguments of the journal entry of a transaction's current revision, for
    :func:`create_entry` (one transaction) or ``build_entry`` (a batch, which passes ``taken``, see
    :func:`display_number`)."""
    channel = txn.channel
    connection = channel.ledger_connection
    assert connection is not None  # journaled only with a ledger connection
    return {
        "line_specs": draft_specs(lines),
        "reference": _reference(txn),
        "date": txn.business_date,
        "currency": txn.currency,
        "memo": f"{channel.name} {txn.kind} {txn.number or txn.external_id}",
        "channel_id": channel.pk,
        "connection_id": connection.pk,
        "txn": txn,
        "mapping_version_id": version.pk,
        "location": str(getattr(doc, "location", "") or ""),
        "register": str(getattr(doc, "register", "") or ""),
        "number": display_number(txn, taken=taken),
        "functional_currency": connection.functional_currency,
        "exchange_rate": quote.rate,
        "rate_source": quote.source,
        "rate_provider": quote.provider,
        "rate_date": quote.day,
    }


def display_number(txn: Transaction, *, taken: set[tuple[Any, str, str]] | None = None) -> str:
    """The number the ledger shows for a transaction: the source's own number (with the channel's
    optional ``document_prefix``), and ``-<revision>`` from the second revision on. A number the
    channel used before for another document of the kind (a till's ticket numbers restart) gets the
    end of the source's id, so the ledger never meets it twice. A batch passes ``taken``, the
    ``(transaction id, kind, number)`` it found taken for all its transactions with one query
    (``journal_batch``), instead of a query here."""
    prefix = str((txn.channel.settings or {}).get("document_prefix") or "")
    number = txn.number or txn.external_id
    if txn.number and txn.number != txn.external_id:
        is_taken = (
            (txn.pk, txn.kind, txn.number) in taken
            if taken is not None
            else (
                Transaction.objects.filter(channel_id=txn.channel_id, kind=txn.kind, number=txn.number)
                .exclude(pk=txn.pk)
                .filter(created_at__lt=txn.created_at)
                .exists()
            )
        )
        if is_taken:
            number = f"{txn.number}-{txn.external_id[-8:]}"
    base = f"{prefix}{number}"
    return base if txn.revision == 1 else f"{base}-{txn.revision}"


def advance_transaction(txn_id: Any, *, actor: Any = None) -> Transaction:
    """validate -> journal -> post for one transaction at its current revision (idempotent)."""
    with transaction.atomic():
        txn = (
            Transaction.objects.select_for_update(of=("self",))
            .select_related("channel__ledger_connection")
            .get(pk=txn_id)
        )
        if txn.status in (
            TransactionStatus.JOURNALED,
            TransactionStatus.SUMMARISED,
            TransactionStatus.POSTED,
        ):
            return txn
        channel = txn.channel
        connection = channel.ledger_connection
        doc = document_of(txn)
        sale_known = True
        refunded = None
        if isinstance(doc, Refund) and doc.sale_external_id:
            # What a refund gives money back for: a sale, or a payment or invoice of the channel.
            candidates = Transaction.objects.filter(
                channel=channel,
                kind__in=(Sale.kind, Payment.kind, Invoice.kind),
                external_id=doc.sale_external_id,
            )
            sale = min(
                candidates, key=lambda t: (Sale.kind, Invoice.kind, Payment.kind).index(t.kind), default=None
            )
            sale_known = sale is not None
            if sale is not None:
                refunded = document_of(sale)
                if txn.sale_id != sale.pk:
                    txn.sale = sale
        reasons = validate_document(doc, sale_known=sale_known)
        if connection is None:
            reasons.append(f"channel {channel.name} has no ledger connection")
        if reasons:
            return _set_status(txn, TransactionStatus.INVALID, reasons, actor)
        assert connection is not None
        # A first revision has no entry of an earlier revision to reverse (revisions only grow).
        previous = _previous_entry(txn) if txn.revision > 1 else None
        if previous is not None:
            _reverse(previous, channel)
        version = version_in_force(channel, connection, txn.business_date, cached=True)
        if version is None:
            return _set_status(
                txn,
                TransactionStatus.NEEDS_MAPPING,
                [f"no approved mapping in force on {txn.business_date} for {channel.name}"],
                actor,
            )
        book = RuleBook.load(version, cached=True)
        functional = connection.functional_currency
        try:
            lots = _settlement_lots(channel, doc, functional) if isinstance(doc, Payout) else None
            lines = draft_lines(doc, book, lots, refunded=refunded)
            if lines:
                lines, quote = converted(txn, doc, book, lines)
        except NeedsMapping as exc:
            return _set_status(txn, TransactionStatus.NEEDS_MAPPING, exc.missing, actor)
        except NeedsRate as exc:
            _fetch_ledger_rate_later(connection, exc)
            return _set_status(txn, TransactionStatus.NEEDS_RATE, [exc.reason], actor)
        except Unbalanced as exc:
            return _set_status(txn, TransactionStatus.INVALID, [str(exc)], actor)
        # Stock, cost of goods sold (a separate entry beside this one) and the tax check (issue 12).
        lines = on_journal(txn, doc, book, lines, functional=functional)
        if not lines:
            return _set_status(txn, TransactionStatus.POSTED, ["nothing to post for this document"], actor)
        entry = create_entry(**entry_fields(txn, doc, lines, version, quote))
        entry.connection = connection  # loaded with the transaction: no second read
        if channel.posting_mode == PostingMode.PER_TRANSACTION:
            create_posting(entry)
            status = TransactionStatus.JOURNALED
        else:
            status = TransactionStatus.SUMMARISED
        if isinstance(doc, Sale | Payment | Invoice):
            waiting = list(
                Transaction.objects.filter(
                    channel=channel,
                    kind=Refund.kind,
                    status=TransactionStatus.INVALID,
                    document__sale_external_id=txn.external_id,
                ).values_list("pk", flat=True)
            )
            if waiting:
                transaction.on_commit(lambda: _advance_all(waiting))
        # Last before commit: the audit append holds the chain's lock until the commit.
        txn = _set_status(txn, status, [], actor)
    return txn


def _settlement_lots(channel: Channel, doc: Payout, functional: str) -> dict[str, SettlementLot]:
    """What each payout item settles, when that matters: the clearing its sale or payment booked
    in another currency (or at another rate) than the payout's. Items are matched to transactions
    of the channel by external id or by a tender's reference."""
    ids = {item.source_id for item in doc.items if item.source_id}
    if not ids:
        return {}
    by_reference = dict(
        TransactionPayment.objects.filter(transaction__channel=channel, reference__in=ids).values_list(
            "reference", "transaction_id"
        )
    )
    txns = dict(
        Transaction.objects.filter(channel=channel, external_id__in=ids).values_list("external_id", "pk")
    )
    wanted = {**{k: v for k, v in by_reference.items()}, **txns}
    lots: dict[str, SettlementLot] = {}
    rows = JournalLine.objects.filter(
        entry__transaction_id__in=set(wanted.values()),
        entry__kind=EntryKind.TRANSACTION,
        entry__superseded=False,
        role="clearing",
    ).values(
        "entry__transaction_id",
        "account_id",
        "currency",
        "debit",
        "credit",
        "functional_debit",
        "functional_credit",
    )
    sums: dict[Any, dict[str, Any]] = {}
    for row in rows:
        lot = sums.setdefault(row["entry__transaction_id"], {"account_id": row["account_id"], "currency": row["currency"],
                                                              "amount": Decimal(0), "functional": Decimal(0)})  # fmt: skip
        lot["amount"] += row["debit"] - row["credit"]
        lot["functional"] += row["functional_debit"] - row["functional_credit"]
    for source_id, txn_id in wanted.items():
        booked = sums.get(txn_id)
        if booked is None or (booked["currency"] == doc.currency == functional):
            continue  # nothing to settle at another value: the payout's own rate applies
        lots[source_id] = SettlementLot(
            booked["account_id"], booked["currency"], booked["amount"], booked["functional"]
        )
    return lots


def _fetch_ledger_rate_later(connection: Any, exc: NeedsRate) -> None:
    """Ask the ledger for its rate after commit (network I/O stays outside the transaction)."""
    from connectors.base import ledger_target_class

    if "exchange_rates" not in ledger_target_class(connection.platform).capabilities:
        return
    from integrator.tasks import enqueue

    args = (str(connection.pk), exc.currency, exc.day.isoformat())
    transaction.on_commit(lambda: enqueue("integrator.tasks.fetch_ledger_rate", *args))


def _set_status(txn: Transaction, status: str, reasons: list[str], actor: Any) -> Transaction:
    before = {"status": txn.status, "revision": txn.revision}
    txn.status = status
    txn.status_reasons = reasons
    txn.save(update_fields=["status", "status_reasons", "sale", "updated_at"])
    row = {
        "action": f"transaction.{status}",
        "obj": txn,
        "before": before,
        "after": {"status": status, "revision": txn.revision, "reasons": reasons},
        "actor": actor,
        "actor_label": "" if actor else "worker",
        "occurred_at": timezone.now(),
    }
    gathered = _AUDIT_ROWS.get()
    if gathered is not None:
        gathered.append(row)  # appended with the batch's others (process_event_batch)
    else:
        audit.record(**row)
    return txn


def retry_held_transactions(*, channel_id: Any = None) -> int:
    """Re-journal transactions held as needs_mapping (after a mapping version is approved)."""
    held = Transaction.objects.filter(status=TransactionStatus.NEEDS_MAPPING)
    if channel_id is not None:
        held = held.filter(channel_id=channel_id)
    count = 0
    for pk in held.values_list("pk", flat=True).iterator():
        Transaction.objects.filter(pk=pk, status=TransactionStatus.NEEDS_MAPPING).update(
            status=TransactionStatus.RECEIVED
        )
        advance_transaction(pk)
        count += 1
    return count


def retry_failed_events() -> int:
    """Re-process inbox rows that failed transiently (vendor unreachable while fetching), and
    quarantine, with the last reason, those that failed ``MAX_EVENT_ATTEMPTS`` times."""
    given_up = InboundEvent.objects.filter(status=EventStatus.FAILED, attempts__gte=MAX_EVENT_ATTEMPTS)
    for pk, error in given_up.values_list("pk", "error")[:500]:
        _quarantine(pk, f"gave up after {MAX_EVENT_ATTEMPTS} attempts; last: {error}")
    failed = InboundEvent.objects.filter(
        Q(status=EventStatus.FAILED)
        | Q(status=EventStatus.RECEIVED, received_at__lt=timezone.now() - timedelta(minutes=5)),
        attempts__lt=MAX_EVENT_ATTEMPTS,
    )
    count = 0
    for pk in failed.values_list("pk", flat=True)[:500]:
        InboundEvent.objects.filter(pk=pk, status=EventStatus.FAILED).update(status=EventStatus.RECEIVED)
        process_event_or_mark_failed(pk)
        count += 1
    return count


def process_event_or_mark_failed(pk: Any) -> None:
    """Process one event so that nothing it raises stops the events behind it: an event still
    ``received`` after an unexpected error is marked failed with the error and a retry time."""
    try:
        process_inbound_event(pk)
    except Exception as exc:
        log.exception("processing event %s raised", pk)
        if InboundEvent.objects.filter(pk=pk, status=EventStatus.RECEIVED).exists():
            _fail(pk, f"processing raised {type(exc).__name__}: {exc}")


def process_received_events(limit: int | None = None) -> int:
    """Process every inbox row still 'received' and not held by a live batch (commands, the demo),
    in batches of ``PROCESS_BATCH_SIZE`` (:func:`process_event_batch`).

    One bad event never holds up another: a row that cannot be read or stored is marked on its
    own, and a batch that fails as a whole is processed again row by row.
    """
    pending = (
        InboundEvent.objects.filter(status=EventStatus.RECEIVED)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=timezone.now()))
        .order_by("received_at")
        .values_list("pk", flat=True)
    )
    ids = list(pending[:limit] if limit else pending)
    size = settings.PROCESS_BATCH_SIZE
    for start in range(0, len(ids), size):
        chunk = ids[start : start + size]
        if size == 1:
            process_event_or_mark_failed(chunk[0])
        else:
            process_event_batch(chunk)
    return len(ids)
