"""Post: the outbox. Every journal entry reaches its ledger exactly once.

* One Posting per entry, with one idempotency key for its whole life (re-sent on every attempt).
* Claiming is a compare-and-set on the row (and ``SELECT ... FOR UPDATE SKIP LOCKED`` for batch
  claims on PostgreSQL), with a lease. The vendor call happens outside any database transaction.
* A posting whose outcome is unknown (timeout after sending, or a worker that died mid-call and
  left its lease to expire) is ``uncertain``: the next attempt looks the document up by reference
  first and re-sends only if the ledger does not have it.
* Errors follow the taxonomy of ``connectors.base``: Retryable/RateLimited back off exponentially
  with full jitter (never inside a Retry-After window) up to ``POSTING_MAX_ATTEMPTS``, then dead
  letter; Permanent dead-letters at once with the vendor's message; AuthExpired marks the
  connection as needing re-authorisation.
* A document dated in a closed period never reaches the vendor: it is held, or moved to the first
  open day with a note, as the connection's policy says.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from connectors.base import (
    AuthExpired,
    ClosedPeriod,
    ConnectorError,
    Deferred,
    LedgerConfig,
    LedgerTarget,
    Permanent,
    PostingDocument,
    PostingLine,
    PostResult,
    RateLimited,
    Retryable,
    Uncertain,
    ledger_target_class,
)
from integrator.canonical import Party
from integrator.choices import EntryKind, LockPolicy, PostingState, TransactionKind, TransactionStatus
from integrator.failpoints import failpoint
from integrator.models import (
    JournalEntry,
    JournalLine,
    LedgerConnection,
    Posting,
    PostingAttempt,
    Transaction,
)
from integrator.services import audit
from integrator.services.bulk import insert_all, update_each
from integrator.services.ledger_refs import DbRefStore
from reconciliation.services.settling import POSTED, may_settle, settle_exceptions

__all__ = [
    "MOVE_WITHOUT_REASON_DAYS",
    "backoff_seconds",
    "build_posting",
    "build_posting_document",
    "circuit_state",
    "create_posting",
    "due_posting_ids",
    "enqueue_sending",
    "idempotency_key_for",
    "ledger_config",
    "ledger_target_for",
    "move_held_posting",
    "recover_stale_postings",
    "replay_posting",
    "run_outbox",
    "send_posting",
    "send_postings_batch",
    "send_postings_from",
]

log = logging.getLogger(__name__)
_KEY_NAMESPACE = uuid.UUID("5f1c3c57-3f0e-4f6b-9c55-8a1d6c0b2a10")
CLAIMABLE = (PostingState.PENDING, PostingState.UNCERTAIN)


def idempotency_key_for(connection_id: Any, entry_id: Any) -> str:
    """A deterministic 32-hex key: fits QBO (≤ 50, ≤ 36 in batch), Xero, Sage's GUID format."""
    return uuid.uuid5(_KEY_NAMESPACE, f"{connection_id}:{entry_id}").hex


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter, never shorter than the vendor's Retry-After."""
    cap = settings.POSTING_BACKOFF_CAP_SECONDS
    ceiling = min(cap, settings.POSTING_BACKOFF_BASE_SECONDS * (2 ** max(0, attempt - 1)))
    delay = random.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def _save_connection_credentials(connection_id: Any) -> Callable[[Any], None]:
    def save(credentials: Any) -> None:
        with transaction.atomic():
            conn = LedgerConnection.objects.select_for_update().get(pk=connection_id)
            conn.credentials = dict(credentials)
            conn.save(update_fields=["credentials", "updated_at"])
            audit.record("connection.credentials_rotated", obj=conn, actor_label="system")

    return save


def _connector_settings(connection: LedgerConnection) -> dict[str, Any]:
    """The connection's settings plus the lock date in force (ours or the ledger's, the later)."""
    values = dict(connection.settings or {})
    lock = connection.effective_lock_date()
    if lock is not None:
        values["lock_date"] = lock.isoformat()
    return values


def ledger_config(connection: LedgerConnection) -> LedgerConfig:
    """The frozen configuration a ledger connector gets (secrets decrypted)."""
    return LedgerConfig(
        connection_id=str(connection.pk),
        platform=connection.platform,
        functional_currency=connection.functional_currency,
        base_url=connection.base_url,
        credentials=dict(connection.credentials or {}),
        settings=_connector_settings(connection),
        save_credentials=_save_connection_credentials(connection.pk),
        refs=DbRefStore(connection.pk),
    )


def ledger_target_for(connection: LedgerConnection) -> LedgerTarget:
    """The connection's ledger connector, configured."""
    return ledger_target_class(connection.platform)(ledger_config(connection))


def build_posting(entry: JournalEntry) -> Posting:
    """The outbox row for an entry, built but not saved, with the closed-period policy applied
    before anything can be sent: dated in a closed period, it is held, or moved to the next open
    day where the connection says so."""
    connection = entry.connection
    posting_date = entry.date
    state = PostingState.PENDING
    note = error = error_class = ""
    lock = connection.effective_lock_date()
    if lock is not None and entry.date <= lock:
        if connection.lock_policy == LockPolicy.MOVE_TO_NEXT_OPEN_DAY:
            posting_date = lock + timedelta(days=1)
            note = f"Dated {entry.date}, in a period closed up to {lock}: posted on {posting_date}."
        else:
            state = PostingState.HELD
            error_class = "closed_period"
            error = (
                f"Dated {entry.date}, in a period closed up to {lock}. Reopen the period or move the date."
            )
    return Posting(
        connection=connection,
        entry=entry,
        idempotency_key=idempotency_key_for(connection.pk, entry.pk),
        state=state,
        posting_date=posting_date,
        next_attempt_at=timezone.now(),
        note=note,
        last_error=error,
        error_class=error_class,
    )


def create_posting(entry: JournalEntry) -> Posting:
    """Create the outbox row for an entry (inside the caller's transaction); enqueue on commit.

    Applies the closed-period policy before anything can be sent (:func:`build_posting`).
    """
    posting = build_posting(entry)
    posting.save(force_insert=True)
    if posting.state == PostingState.PENDING:
        from integrator.tasks import enqueue

        transaction.on_commit(lambda: enqueue("integrator.tasks.send_posting", str(posting.pk)))
    return posting


def enqueue_sending(postings: list[Posting]) -> None:
    """On commit, ask the workers to send newly created pending postings with as few broker
    messages as the posting task allows: one per posting task's batch where a connection has at
    least ``MIN_TASK_BATCH`` of them and its ledger takes batches (the task of one sends up to a
    batch of its connection's due postings, :func:`send_postings_from`), one per posting otherwise."""
    from integrator.tasks import enqueue

    by_connection: dict[Any, list[Posting]] = {}
    for posting in postings:
        if posting.state == PostingState.PENDING:
            by_connection.setdefault(posting.connection_id, []).append(posting)
    messages: list[str] = []
    for pending in by_connection.values():
        size = min(ledger_target_class(pending[0].connection.platform).max_batch, settings.POSTING_TASK_BATCH)
        step = size if size >= MIN_TASK_BATCH and len(pending) >= MIN_TASK_BATCH else 1
        messages.extend(str(p.pk) for p in pending[::step])

    def send() -> None:
        for pk in messages:
            enqueue("integrator.tasks.send_posting", pk)

    if messages:
        transaction.on_commit(send)


def _party(data: Any) -> Party | None:
    """A canonical Party from a stored document's ``customer``."""
    if not isinstance(data, dict):
        return None
    fields = {k: str(data.get(k) or "") for k in ("external_id", "name", "email", "company", "tax_number")}
    return Party(**fields) if any(fields.values()) else None


def _posted(entry: JournalEntry | None) -> Posting | None:
    """The posting of an entry, when it has reached its ledger."""
    if entry is None:
        return None
    return Posting.objects.filter(entry=entry, state=PostingState.POSTED).first()


def _current_entry(txn: Transaction) -> JournalEntry | None:
    """The transaction's entry now in force (not superseded, not a reversal)."""
    return (
        JournalEntry.objects.filter(transaction=txn, kind=EntryKind.TRANSACTION, superseded=False)
        .order_by("-transaction_revision")
        .first()
    )


def _related(entry: JournalEntry, source: dict[str, Any]) -> dict[str, Any]:
    """What the document settles or undoes in the ledger, and the customer it inherits.

    A payment of an invoice is linked to the invoice's document in the ledger and is for its
    customer; it waits (:class:`Deferred`) while the invoice has not reached the ledger. A reversal
    points at the document it undoes; a refund at its sale's document.
    """
    related: dict[str, Any] = {}
    txn = entry.transaction
    if entry.reverses_id is not None:
        original = _posted(entry.reverses)
        if original is not None:
            related.update(related_remote_id=original.remote_id, related_number=original.remote_number,
                           related_kind=entry.reverses.kind)  # type: ignore[union-attr]  # fmt: skip
        return related
    if txn is None:
        return related
    if txn.kind == TransactionKind.PAYMENT and source.get("invoice_external_id"):
        invoice = Transaction.objects.filter(
            channel_id=txn.channel_id, kind=TransactionKind.INVOICE, external_id=source["invoice_external_id"]
        ).first()
        if invoice is None:
            return related
        invoice_entry = _current_entry(invoice)
        if invoice_entry is None and invoice.status != TransactionStatus.POSTED:
            # The invoice is not booked yet (held for a mapping or a rate): its payment waits.
            raise Deferred(
                f"waiting for invoice {invoice.number or invoice.external_id} "
                f"({invoice.get_status_display().lower()}) to reach the ledger",
                vendor_code="waiting_for_invoice",
            )
        if invoice_entry is not None and invoice_entry.summary_id is None:
            posting = _posted(invoice_entry)
            if posting is None:
                raise Deferred(
                    f"waiting for invoice {invoice.number or invoice.external_id} to reach the ledger",
                    vendor_code="waiting_for_invoice",
                )
            related.update(related_remote_id=posting.remote_id, related_number=posting.remote_number,
                           related_kind="invoice")  # fmt: skip
        related["customer"] = _party((invoice.document or {}).get("customer"))
    elif txn.kind == TransactionKind.REFUND and txn.sale_id:
        posting = _posted(_current_entry(txn.sale)) if txn.sale is not None else None
        if posting is not None:
            related.update(related_remote_id=posting.remote_id, related_number=posting.remote_number,
                           related_kind="sale")  # fmt: skip
    return related


#: The columns a posting document's lines are built from (:func:`_lines_of`).
_LINE_COLUMNS = (
    "entry_id",
    "account__code",
    "account__remote_id",
    "debit",
    "credit",
    "role",
    "description",
    "tax_code_id",
    "tax_code__code",
    "tax_code__remote_id",
    "tax_rate",
    "item_ref",
    "quantity",
    "unit_price",
    "functional_debit",
    "functional_credit",
    "currency",
)


def _lines_of(entries: list[JournalEntry]) -> dict[Any, tuple[PostingLine, ...]]:
    """The posting lines of each of ``entries`` (by entry id), in the entry's order, read with one
    query of the columns they need: no model object per line, account and tax code (in a batch of
    500 sales, building and prefetching those was a fifth of the post stage; issue 19)."""
    currency = {e.pk: e.currency for e in entries}
    lines: dict[Any, list[PostingLine]] = {pk: [] for pk in currency}
    rows = (
        JournalLine.objects.filter(entry_id__in=list(currency))
        .order_by("entry_id", "position")
        .values_list(*_LINE_COLUMNS)
    )
    for (entry_id, code, account_ref, debit, credit, role, description, tax_code_id, tax_code, tax_code_ref,
         tax_rate, item_ref, quantity, unit_price, functional_debit, functional_credit, line_currency) in rows:  # fmt: skip
        taxed = tax_code_id is not None
        lines[entry_id].append(
            PostingLine(
                account_code=code,
                account_ref=account_ref,
                debit=debit,
                credit=credit,
                role=role,
                description=description,
                tax_code=tax_code if taxed else "",
                tax_code_ref=tax_code_ref if taxed else "",
                tax_rate=tax_rate,
                item_ref=item_ref,
                quantity=quantity,
                unit_price=unit_price,
                functional_debit=functional_debit,
                functional_credit=functional_credit,
                currency="" if line_currency == currency[entry_id] else line_currency,
            )
        )
    return {pk: tuple(made) for pk, made in lines.items()}


def _prefetch_lines(postings: list[Posting]) -> None:
    """Read the lines of a batch's entries in one query (used by :func:`build_posting_document`)."""
    entries = [p.entry for p in postings]
    lines = _lines_of(entries)
    for entry in entries:
        entry._posting_lines = lines[entry.pk]  # type: ignore[attr-defined]


def build_posting_document(posting: Posting) -> PostingDocument:
    """The connector-facing document for a posting, from our journal (no ORM objects leak).

    Raises :class:`Deferred` when the document depends on another not yet in the ledger."""
    entry = posting.entry
    txn = entry.transaction
    source: dict[str, Any] = dict(txn.document) if txn is not None else {}
    lines = getattr(entry, "_posting_lines", None)
    if lines is None:  # not prefetched with a batch (_prefetch_lines)
        lines = _lines_of([entry])[entry.pk]
    kind = entry.kind if entry.kind in ("summary", "reversal", "manual") else (txn.kind if txn else "manual")
    related = _related(entry, source)
    customer = _party(source.get("customer")) or related.pop("customer", None)
    related.pop("customer", None)
    due = source.get("due_date")
    return PostingDocument(
        reference=entry.reference,
        idempotency_key=posting.idempotency_key,
        kind=kind,
        date=posting.posting_date,
        currency=entry.currency,
        lines=lines,
        memo=(entry.memo + (f" ({posting.note})" if posting.note else ""))[:255],
        prices_include_tax=bool(source.get("prices_include_tax", False)),
        customer_name=customer.name if customer else "",
        related_reference=entry.reverses.reference if entry.reverses_id else "",  # type: ignore[union-attr]
        source=source,
        number=entry.number,
        customer=customer,
        due_date=date.fromisoformat(due) if isinstance(due, str) and due else None,
        functional_currency=entry.functional_currency or entry.connection.functional_currency,
        exchange_rate=entry.exchange_rate,
        rate_source=entry.rate_source,
        **related,
    )


def circuit_state(connection: LedgerConnection) -> str:
    """``closed`` (normal), ``open`` (waiting: no calls) or ``half_open`` (the next call is a probe)."""
    if connection.circuit_failures < settings.CIRCUIT_FAILURE_THRESHOLD:
        return "closed"
    if connection.circuit_open_until is not None and connection.circuit_open_until > timezone.now():
        return "open"
    return "half_open"


def _circuit_allows(
    connection_id: Any, posting_id: Any, now: Any, circuit: tuple[int, Any] | None = None
) -> bool:
    """Whether a posting of this connection may be sent now. While the circuit is open nothing is
    sent (the posting waits until the period ends); when the period ends exactly one worker wins
    the probe (compare-and-set on ``circuit_open_until``) and re-opens the period for the others.
    ``circuit`` is (failures, open until) when the caller has just read them."""
    if circuit is None:
        circuit = LedgerConnection.objects.values_list("circuit_failures", "circuit_open_until").get(
            pk=connection_id
        )
    failures, open_until = circuit
    if failures < settings.CIRCUIT_FAILURE_THRESHOLD:
        return True
    if open_until is not None and open_until > now:
        Posting.objects.filter(pk=posting_id, next_attempt_at__lt=open_until).update(
            next_attempt_at=open_until
        )
        return False
    reopen = now + timedelta(seconds=settings.CIRCUIT_OPEN_SECONDS)
    won = LedgerConnection.objects.filter(pk=connection_id, circuit_open_until=open_until).update(
        circuit_open_until=reopen
    )
    if not won:
        Posting.objects.filter(pk=posting_id, next_attempt_at__lt=reopen).update(next_attempt_at=reopen)
    return bool(won)


def _record_circuit(connection_id: Any, *, failed: bool) -> None:
    """Count consecutive transient failures; success closes the circuit."""
    if not failed:
        closed = (
            LedgerConnection.objects.filter(pk=connection_id)
            .exclude(circuit_failures=0, circuit_open_until=None)
            .update(circuit_failures=0, circuit_open_until=None)
        )
        if closed:
            # The vendor is back: postings parked behind the open circuit go now (never those
            # waiting out a vendor's Retry-After).
            Posting.objects.filter(
                connection_id=connection_id, state__in=CLAIMABLE, next_attempt_at__gt=timezone.now()
            ).exclude(error_class="RateLimited").update(next_attempt_at=timezone.now())
        return
    LedgerConnection.objects.filter(pk=connection_id).update(circuit_failures=F("circuit_failures") + 1)
    failures = LedgerConnection.objects.values_list("circuit_failures", flat=True).get(pk=connection_id)
    if failures == settings.CIRCUIT_FAILURE_THRESHOLD:
        LedgerConnection.objects.filter(pk=connection_id).update(
            circuit_open_until=timezone.now() + timedelta(seconds=settings.CIRCUIT_OPEN_SECONDS)
        )
        log.error(
            "ledger connection %s: circuit opened after %d consecutive failures", connection_id, failures
        )
        audit.record(
            "connection.circuit_opened",
            object_type="integrator.LedgerConnection",
            object_id=str(connection_id),
            after={"failures": failures, "open_seconds": settings.CIRCUIT_OPEN_SECONDS},
            actor_label="worker",
        )


#: What sending a claimed posting reads: loaded with the claim, never again (a batch reads the
#: connections apart, one object each: ``_share_connections``).
_SEND_RELATED = ("connection", "entry", "entry__transaction", "entry__reverses")


def _claimable(now: Any) -> Any:
    """Postings that may be claimed now (a disabled ledger connection sends nothing: its
    postings wait until it is enabled again)."""
    return Posting.objects.filter(state__in=CLAIMABLE, next_attempt_at__lte=now, connection__active=True)


def _mark_claimed(posting: Posting, now: Any) -> None:
    """What the claim's UPDATE wrote, on the instance read just before it."""
    posting.state = PostingState.SENDING
    posting.lease_until = now + timedelta(seconds=settings.POSTING_LEASE_SECONDS)
    posting.attempts += 1
    posting.updated_at = now


def _new_attempt(posting: Posting, current: str, now: Any, worker: str) -> PostingAttempt:
    return PostingAttempt(
        posting=posting,
        number=posting.attempts,
        action="lookup" if current == PostingState.UNCERTAIN else "send",
        started_at=now,
        worker=worker[:80],
    )


def _claim(posting_id: Any, worker: str) -> tuple[Posting, PostingAttempt, bool] | None:
    """Compare-and-set claim with a lease. Returns (posting, attempt, needs_lookup) or None.

    The row is read once, with its connection (the circuit) and what sending needs; the
    compare-and-set is on the state and the attempt count read, so the instance is exactly what the
    UPDATE leaves (every claim raises the count; a deferral that gives it back also moves the
    next attempt time past ``now``)."""
    now = timezone.now()
    with transaction.atomic():
        posting = _claimable(now).select_related(*_SEND_RELATED).filter(pk=posting_id).first()
        if posting is None:
            return None
        current = posting.state
        circuit = (posting.connection.circuit_failures, posting.connection.circuit_open_until)
        if not _circuit_allows(posting.connection_id, posting_id, now, circuit):
            return None
        won = Posting.objects.filter(
            pk=posting_id, state=current, attempts=posting.attempts, next_attempt_at__lte=now
        ).update(
            state=PostingState.SENDING,
            lease_until=now + timedelta(seconds=settings.POSTING_LEASE_SECONDS),
            attempts=F("attempts") + 1,
            updated_at=now,
        )
        if not won:
            return None
        _mark_claimed(posting, now)
        attempt = _new_attempt(posting, current, now, worker)
        attempt.save(force_insert=True)
    return posting, attempt, current == PostingState.UNCERTAIN


def _share_connections(postings: list[Posting]) -> None:
    """Give a batch's postings their ledger connections, one object per connection read with one
    query (read with each posting, every copy decrypted the connection's credentials again)."""
    connections = LedgerConnection.objects.in_bulk({p.connection_id for p in postings})
    for posting in postings:
        posting.connection = connections[posting.connection_id]


class _LostRace(Exception):
    """A batch claim did not win every row it meant to: roll it back and claim one by one."""


def _claim_many(posting_ids: list[Any], worker: str) -> list[tuple[Posting, PostingAttempt, bool]]:
    """Claim several postings in one transaction: one read (``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL, so rows another worker is claiming are left to it), one compare-and-set UPDATE per
    state read and one insert of the attempt rows, where :func:`_claim` costs all of that per
    posting. Each UPDATE must move every row it targets (rows this transaction locked cannot have
    changed); if one does not (a race on a database without row locks), the whole claim is rolled
    back and the postings are claimed one by one. So is a batch whose connection's circuit is not
    closed: :func:`_claim` decides those (waits, or exactly one probe). Returns in the given order."""
    now = timezone.now()
    claimed: list[tuple[Posting, PostingAttempt, bool]] = []
    one_by_one: list[Any] = []
    try:
        with transaction.atomic():
            rows = list(
                _claimable(now)
                .select_for_update(skip_locked=True, of=("self",))
                .select_related(*_SEND_RELATED[1:])
                .filter(pk__in=posting_ids)
            )
            _share_connections(rows)
            threshold = settings.CIRCUIT_FAILURE_THRESHOLD
            closed = [p for p in rows if p.connection.circuit_failures < threshold]
            one_by_one = [p.pk for p in rows if p.connection.circuit_failures >= threshold]
            groups: dict[tuple[str, int], list[Posting]] = {}
            for p in closed:
                groups.setdefault((p.state, p.attempts), []).append(p)
            for (current, count), group in groups.items():
                # Compare-and-set on what was read (state and attempt count), as _claim does.
                won = Posting.objects.filter(
                    pk__in=[p.pk for p in group], state=current, attempts=count, next_attempt_at__lte=now
                ).update(
                    state=PostingState.SENDING,
                    lease_until=now + timedelta(seconds=settings.POSTING_LEASE_SECONDS),
                    attempts=F("attempts") + 1,
                    updated_at=now,
                )
                if won != len(group):
                    raise _LostRace
            attempts = []
            for p in closed:
                current = p.state
                _mark_claimed(p, now)
                attempt = _new_attempt(p, current, now, worker)
                attempts.append(attempt)
                claimed.append((p, attempt, current == PostingState.UNCERTAIN))
            insert_all(attempts)
    except _LostRace:
        return [c for c in (_claim(pk, worker) for pk in posting_ids) if c is not None]
    for pk in one_by_one:
        single = _claim(pk, worker)
        if single is not None:
            claimed.append(single)
    order = {pk: i for i, pk in enumerate(posting_ids)}
    claimed.sort(key=lambda c: order.get(c[0].pk, len(order)))
    return claimed


def _document_summary(doc: PostingDocument) -> dict[str, Any]:
    return {
        "reference": doc.reference,
        "kind": doc.kind,
        "date": doc.date.isoformat(),
        "currency": doc.currency,
        "debits": str(doc.total_debit()),
        "credits": str(doc.total_credit()),
        "lines": [
            {"account": ln.account_code, "role": ln.role, "debit": str(ln.debit), "credit": str(ln.credit)}
            for ln in doc.lines
        ],
    }


def _jsonable(value: Any) -> Any:
    """A connector's raw notes made safe for a JSON column (Decimals and dates as text)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _finish_posted(posting: Posting, attempt: PostingAttempt, result: PostResult, outcome: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        _record_circuit(posting.connection_id, failed=False)
        Posting.objects.filter(pk=posting.pk).update(
            state=PostingState.POSTED,
            remote_id=result.remote_id[:120],
            remote_number=result.remote_number[:120],
            posted_at=now,
            lease_until=None,
            last_error="",
            error_class="",
            updated_at=now,
        )
        PostingAttempt.objects.filter(pk=attempt.pk).update(
            finished_at=now,
            outcome=outcome,
            response={
                "remote_id": result.remote_id,
                "number": result.remote_number,
                "raw": _jsonable(result.raw),
            },
        )
        txn_id = posting.entry.transaction_id
        if txn_id is not None and not posting.entry.reverses_id:
            Transaction.objects.filter(pk=txn_id, revision=posting.entry.transaction_revision or 0).update(
                status=TransactionStatus.POSTED
            )
        Transaction.objects.filter(journal_entries__summary=posting.entry).update(
            status=TransactionStatus.POSTED
        )
        # Documents waiting for this one (payments of this invoice) may go now.
        Posting.objects.filter(
            connection_id=posting.connection_id, state=PostingState.PENDING, error_class="Deferred"
        ).update(next_attempt_at=now)
        settle_exceptions(posting.entry, event=POSTED, detail=result.remote_number or result.remote_id)
        if "read_back" in ledger_target_class(posting.connection.platform).capabilities:
            from integrator.tasks import enqueue

            transaction.on_commit(lambda: enqueue("integrator.tasks.verify_posting", str(posting.pk)))
        audit.record(
            "posting.posted",
            object_type="integrator.Posting",
            object_id=str(posting.pk),
            after={"remote_id": result.remote_id, "reference": posting.entry.reference, "outcome": outcome},
            actor_label=attempt.worker or "worker",
        )


def _finish_posted_many(posted: list[tuple[Posting, PostingAttempt, PostResult]], outcome: str) -> None:
    """:func:`_finish_posted` for a batch, in one transaction: the same rows written and the same
    audit rows appended (one per posting, chained in order), with one statement per kind of write
    instead of one per posting. Settling reconciliation exceptions stays per entry."""
    if not posted:
        return
    now = timezone.now()
    with transaction.atomic():
        for connection_id in dict.fromkeys(p.connection_id for p, _, _ in posted):
            _record_circuit(connection_id, failed=False)
        for posting, attempt, result in posted:
            posting.state = PostingState.POSTED
            posting.remote_id = result.remote_id[:120]
            posting.remote_number = result.remote_number[:120]
            posting.posted_at = now
            posting.lease_until = None
            posting.last_error = posting.error_class = ""
            posting.updated_at = now
            attempt.finished_at = now
            attempt.outcome = outcome
            attempt.response = {"remote_id": result.remote_id, "number": result.remote_number,
                                "raw": _jsonable(result.raw)}  # fmt: skip
        # What every posting of the batch shares in one UPDATE; only what differs per posting goes
        # row by row, joined from a VALUES list (update_each; Django's bulk_update holds a CASE per
        # field and row: with all eleven fields it was 80 % of the post stage for a batch of 500).
        Posting.objects.filter(pk__in=[p.pk for p, _, _ in posted]).update(
            state=PostingState.POSTED, posted_at=now, lease_until=None, last_error="", error_class="",
            updated_at=now,
        )  # fmt: skip
        update_each([p for p, _, _ in posted], ["remote_id", "remote_number"])
        PostingAttempt.objects.filter(pk__in=[a.pk for _, a, _ in posted]).update(
            finished_at=now, outcome=outcome
        )
        update_each([a for _, a, _ in posted], ["response"])
        by_revision: dict[int, list[Any]] = {}
        for posting, _, _ in posted:
            entry = posting.entry
            if entry.transaction_id is not None and not entry.reverses_id:
                by_revision.setdefault(entry.transaction_revision or 0, []).append(entry.transaction_id)
        for revision, txn_ids in by_revision.items():
            Transaction.objects.filter(pk__in=txn_ids, revision=revision).update(
                status=TransactionStatus.POSTED
            )
        summaries = [p.entry for p, _, _ in posted if p.entry.kind == EntryKind.SUMMARY]
        if summaries:
            Transaction.objects.filter(journal_entries__summary__in=summaries).update(
                status=TransactionStatus.POSTED
            )
        # Documents waiting for these (payments of an invoice) may go now.
        for connection_id in dict.fromkeys(p.connection_id for p, _, _ in posted):
            Posting.objects.filter(
                connection_id=connection_id, state=PostingState.PENDING, error_class="Deferred"
            ).update(next_attempt_at=now)
        worth = {e.pk for e in may_settle([p.entry for p, _, _ in posted])}
        for posting, _, result in posted:
            if posting.entry.pk in worth:
                settle_exceptions(
                    posting.entry, event=POSTED, detail=result.remote_number or result.remote_id
                )
        from integrator.tasks import enqueue

        for posting, _, _ in posted:
            if "read_back" in ledger_target_class(posting.connection.platform).capabilities:
                pk = str(posting.pk)
                transaction.on_commit(lambda pk=pk: enqueue("integrator.tasks.verify_posting", pk))  # type: ignore[misc]
        audit.record_many(
            [
                {
                    "action": "posting.posted",
                    "object_type": "integrator.Posting",
                    "object_id": str(posting.pk),
                    "after": {"remote_id": result.remote_id, "reference": posting.entry.reference,
                              "outcome": outcome},
                    "actor_label": attempt.worker or "worker",
                }
                for posting, attempt, result in posted
            ]
        )  # fmt: skip


def _finish_failed(
    posting: Posting, attempt: PostingAttempt, exc: ConnectorError, *, count_for_circuit: bool = True
) -> None:
    now = timezone.now()
    error_class = type(exc).__name__
    message = exc.vendor_message or exc.message
    update: dict[str, Any] = {"lease_until": None, "last_error": message[:2000], "error_class": error_class}
    retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
    if isinstance(exc, Deferred):
        # Not the vendor's fault and not this posting's: the attempt is given back.
        update.update(
            state=PostingState.PENDING,
            attempts=max(0, posting.attempts - 1),
            next_attempt_at=now + timedelta(seconds=settings.POSTING_DEFER_SECONDS),
        )
    elif isinstance(exc, Uncertain):
        update.update(
            state=PostingState.UNCERTAIN, next_attempt_at=now + timedelta(seconds=backoff_seconds(1))
        )
    elif isinstance(exc, Permanent):
        update.update(state=PostingState.HELD if isinstance(exc, ClosedPeriod) else PostingState.DEAD)
    elif isinstance(exc, AuthExpired):
        LedgerConnection.objects.filter(pk=posting.connection_id).update(needs_reauth=True)
        update.update(state=PostingState.PENDING, next_attempt_at=now + timedelta(minutes=15))
        log.error("ledger connection %s needs re-authorisation: %s", posting.connection_id, message)
    elif posting.attempts >= settings.POSTING_MAX_ATTEMPTS:
        update.update(state=PostingState.DEAD)
    else:
        delay = backoff_seconds(posting.attempts, retry_after)
        update.update(state=PostingState.PENDING, next_attempt_at=now + timedelta(seconds=delay))
    with transaction.atomic():
        # Only transient vendor trouble counts towards the circuit: a 429 has its own Retry-After,
        # and a refused document says nothing about the vendor's health.
        if count_for_circuit and type(exc) in (Retryable, Uncertain):
            _record_circuit(posting.connection_id, failed=True)
        Posting.objects.filter(pk=posting.pk).update(updated_at=now, **update)
        PostingAttempt.objects.filter(pk=attempt.pk).update(
            finished_at=now,
            outcome=str(update.get("state", "")),
            error_class=error_class,
            message=message[:2000],
        )
        if update.get("state") in (PostingState.DEAD, PostingState.HELD):
            audit.record(
                "posting.dead_lettered" if update["state"] == PostingState.DEAD else "posting.held",
                object_type="integrator.Posting",
                object_id=str(posting.pk),
                after={"error_class": error_class, "message": message[:500]},
                actor_label=attempt.worker or "worker",
            )
            if posting.entry.transaction_id:
                Transaction.objects.filter(pk=posting.entry.transaction_id).update(
                    status=TransactionStatus.FAILED
                )
        if isinstance(exc, AuthExpired):
            audit.record(
                "connection.needs_reauth",
                object_type="integrator.LedgerConnection",
                object_id=str(posting.connection_id),
                after={"message": message[:500]},
                actor_label=attempt.worker or "worker",
            )


def _lock_date_check(posting: Posting, doc: PostingDocument) -> None:
    lock = posting.connection.effective_lock_date()
    if lock is not None and doc.date <= lock:
        raise ClosedPeriod(f"dated {doc.date}, in a period closed up to {lock}")


def send_posting(posting_id: Any, worker: str = "") -> Posting | None:
    """Claim and send one posting (or resolve it by look-up when its last outcome was uncertain)."""
    claimed = _claim(posting_id, worker)
    if claimed is None:
        return None
    _send_claimed(*claimed)
    return Posting.objects.get(pk=posting_id)


def _send_claimed(posting: Posting, attempt: PostingAttempt, needs_lookup: bool) -> None:
    """Send a claimed posting (network I/O happens here, outside any database transaction)."""
    try:
        doc = build_posting_document(posting)
        PostingAttempt.objects.filter(pk=attempt.pk).update(request=_document_summary(doc))
        target = ledger_target_for(posting.connection)
        if needs_lookup:
            found = target.lookup(doc)
            if found is not None:
                _finish_posted(posting, attempt, found, "found by look-up")
                return
        _lock_date_check(posting, doc)
        result = target.post(doc)
        failpoint("after_send")
        _finish_posted(posting, attempt, result, "posted")
    except ConnectorError as exc:
        _finish_failed(posting, attempt, exc)
    except Exception as exc:
        # An unexpected bug must not leave the posting 'sending' forever: treat as uncertain.
        log.exception("posting %s failed unexpectedly", posting.pk)
        _finish_failed(posting, attempt, Uncertain(f"internal error: {exc!r}"))


def send_postings_batch(posting_ids: list[Any], worker: str = "") -> int:
    """Claim several postings of ONE connection and send them in one batch call (QuickBooks
    ``/batch``, Xero many invoices per PUT, the built-in ledger's one transaction) with per-item
    results. Postings whose last outcome was uncertain are looked up one by one first. Returns how
    many were handled.

    The database work is batched too: one claim for the lot (:func:`_claim_many`), one read of
    the entries' lines, one write of what each attempt sends, and one transaction recording what
    posted (:func:`_finish_posted_many`)."""
    claimed = _claim_many(posting_ids, worker)
    fresh: list[tuple[Posting, PostingAttempt]] = []
    for posting, attempt, needs_lookup in claimed:
        if needs_lookup:
            _send_claimed(posting, attempt, True)
        else:
            fresh.append((posting, attempt))
    if not fresh:
        return len(claimed)
    ready: list[tuple[Posting, PostingAttempt]] = []
    docs: list[PostingDocument] = []
    _prefetch_lines([p for p, _ in fresh])
    for posting, attempt in fresh:
        try:
            doc = build_posting_document(posting)
            attempt.request = _document_summary(doc)
            _lock_date_check(posting, doc)
        except ConnectorError as exc:
            _finish_failed(posting, attempt, exc)
            continue
        docs.append(doc)
        ready.append((posting, attempt))
    built = [a for _, a in fresh if a.request]
    if built:
        update_each(built, ["request"])
    if not ready:
        return len(claimed)
    try:
        results = ledger_target_for(ready[0][0].connection).post_batch(docs)
    except ConnectorError as exc:
        # The whole call failed (rate limit, outage, answer lost): every item shares the outcome,
        # and the circuit counts one failed call, not one per item.
        if type(exc) in (Retryable, Uncertain):
            _record_circuit(ready[0][0].connection_id, failed=True)
        for posting, attempt in ready:
            _finish_failed(posting, attempt, exc, count_for_circuit=False)
        return len(claimed)
    except Exception as exc:
        log.exception("batch of %d postings failed unexpectedly", len(ready))
        for posting, attempt in ready:
            _finish_failed(posting, attempt, Uncertain(f"internal error: {exc!r}"))
        return len(claimed)
    failpoint("after_send")
    # One call, one vote for the circuit: item-level transient errors count once.
    if any(type(r) in (Retryable, Uncertain) for r in results):
        _record_circuit(ready[0][0].connection_id, failed=True)
    posted: list[tuple[Posting, PostingAttempt, PostResult]] = []
    for (posting, attempt), result in zip(ready, results, strict=True):
        if isinstance(result, ConnectorError):
            _finish_failed(posting, attempt, result, count_for_circuit=False)
        else:
            posted.append((posting, attempt, result))
    _finish_posted_many(posted, "posted (batch)")
    return len(claimed)


def recover_stale_postings() -> int:
    """Postings left 'sending' past their lease (the worker died) become 'uncertain'."""
    now = timezone.now()
    with transaction.atomic():
        stale = list(
            Posting.objects.select_for_update(skip_locked=True)
            .filter(state=PostingState.SENDING, lease_until__lt=now)
            .values_list("pk", flat=True)
        )
        if stale:
            Posting.objects.filter(pk__in=stale, state=PostingState.SENDING).update(
                state=PostingState.UNCERTAIN,
                next_attempt_at=now,
                lease_until=None,
                last_error="The worker stopped before recording the outcome; will look the document up.",
                error_class="Uncertain",
                updated_at=now,
            )
            PostingAttempt.objects.filter(posting_id__in=stale, finished_at__isnull=True).update(
                finished_at=now, outcome="lease expired"
            )
    return len(stale)


#: Fewer due postings than this are not worth a batch call from a posting's task: vendors budget
#: batch calls apart (QuickBooks allows 40 a minute, against 480 single calls), so a trickle of
#: tiny batches would spend that budget faster than single posts spend theirs.
MIN_TASK_BATCH = 10


def send_postings_from(posting_id: Any, worker: str = "") -> int:
    """The worker's task for one posting: when at least ``MIN_TASK_BATCH`` postings of its
    connection are due, send it with up to ``max_batch - 1`` of them (oldest due first, at most
    ``POSTING_TASK_BATCH`` in all) in one batch (issue 19); otherwise send it and the few others
    due one by one (a batch's messages are coalesced, :func:`enqueue_sending`, so the others may
    have no message of their own left), or, where the ledger takes one document at a time, send it
    alone. Postings another worker claimed are skipped by the claim; returns how many were
    handled.

    A task that handled some goes on with what is still due of the connection (one more message,
    :func:`_send_what_is_left`): a batch's postings share one message, and one whose task found
    them locked by another worker's claim, and whose rows that worker had not listed, would
    otherwise wait for the outbox sweep."""
    row = Posting.objects.filter(pk=posting_id).values_list("connection_id", "connection__platform").first()
    if row is None:
        return 0
    connection_id, platform = row
    size = min(ledger_target_class(platform).max_batch, settings.POSTING_TASK_BATCH)
    others: list[Any] = []
    if size >= MIN_TASK_BATCH:
        others = list(
            _claimable(timezone.now())
            .filter(connection_id=connection_id)
            .exclude(pk=posting_id)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[: size - 1]
        )
    listed = [posting_id, *others]
    if len(listed) < MIN_TASK_BATCH:
        handled = sum(send_posting(pk, worker=worker) is not None for pk in listed)
    else:
        handled = send_postings_batch(listed, worker=worker)
    if handled and size >= MIN_TASK_BATCH:
        _send_what_is_left(connection_id, listed)
    return handled


def _send_what_is_left(connection_id: Any, listed: list[Any]) -> None:
    """Queue the posting task for the oldest posting of the connection that is due, was never
    tried and that this task did not list, if any (after a task that sent some: the task that holds
    the others' rows does the same when it ends, so the last to end sees what nobody took). Only
    untried postings: one that failed or waits for another document has its own retry time, and
    following it up would go round for ever where that time is now (no back-off configured)."""
    left = (
        _claimable(timezone.now())
        .filter(connection_id=connection_id, attempts=0, error_class="")
        .exclude(pk__in=listed)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)
        .first()
    )
    if left is not None:
        from integrator.tasks import enqueue

        enqueue("integrator.tasks.send_posting", str(left))


def due_posting_ids(limit: int = 100) -> list[Any]:
    """Ids of due postings, skipping rows other workers hold (FOR UPDATE SKIP LOCKED on PostgreSQL)."""
    now = timezone.now()
    with transaction.atomic():
        return list(
            Posting.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(state__in=CLAIMABLE, next_attempt_at__lte=now, connection__active=True)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )


def run_outbox(limit: int = 500, worker: str = "") -> int:
    """Recover stale postings and send every due one, in batches where the ledger takes them;
    returns how many were sent or resolved."""
    recover_stale_postings()
    ids = due_posting_ids(limit)
    by_connection: dict[Any, list[Any]] = {}
    platforms: dict[Any, str] = {}
    for pk, connection_id, platform in Posting.objects.filter(pk__in=ids).values_list(
        "pk", "connection_id", "connection__platform"
    ):
        by_connection.setdefault(connection_id, []).append(pk)
        platforms[connection_id] = platform
    order = {pk: i for i, pk in enumerate(ids)}
    done = 0
    for connection_id, pks in by_connection.items():
        pks.sort(key=order.__getitem__)
        size = ledger_target_class(platforms[connection_id]).max_batch
        if size > 1 and len(pks) > 1:
            for start in range(0, len(pks), size):
                done += send_postings_batch(pks[start : start + size], worker=worker)
            continue
        for pk in pks:
            if send_posting(pk, worker=worker) is not None:
                done += 1
    return done


def replay_posting(posting: Posting, *, actor: Any = None) -> Posting:
    """Replay a dead-lettered or held posting. It restarts as 'uncertain' so the first step is a
    look-up: a replay can never create a second document."""
    with transaction.atomic():
        locked = Posting.objects.select_for_update().get(pk=posting.pk)
        if locked.state not in (PostingState.DEAD, PostingState.HELD):
            raise ValueError(
                f"only dead-lettered or held postings can be replayed (this one is {locked.state})"
            )
        before = audit.snapshot(locked, ["state", "attempts", "last_error"])
        locked.state = PostingState.UNCERTAIN
        locked.attempts = 0
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["state", "attempts", "next_attempt_at", "updated_at"])
        audit.record(
            "posting.replayed", obj=locked, before=before, after={"state": locked.state}, actor=actor
        )
        from integrator.tasks import enqueue

        transaction.on_commit(lambda: enqueue("integrator.tasks.send_posting", str(locked.pk)))
    return locked


#: A held posting moved further than this from its document's own date needs a written reason:
#: booking a sale in another month than it happened is a decision someone must be able to explain.
MOVE_WITHOUT_REASON_DAYS = 31


def move_held_posting(posting: Posting, new_date: date, *, actor: Any = None, reason: str = "") -> Posting:
    """Release a posting held for a closed period on a new (open) date, with a note.

    Refused (ValueError, in words for the person) for a posting that is not held, for a date still
    inside a locked period (ours or the ledger's: reopen the period instead), and for a date more
    than :data:`MOVE_WITHOUT_REASON_DAYS` days from the document's date without a reason.
    """
    reason = reason.strip()
    with transaction.atomic():
        locked = Posting.objects.select_for_update().select_related("connection", "entry").get(pk=posting.pk)
        if locked.state != PostingState.HELD:
            raise ValueError(f"only a held posting can be moved (this one is {locked.state})")
        lock = locked.connection.effective_lock_date()
        if lock is not None and new_date <= lock:
            raise ValueError(
                f"{new_date} is still in the period closed up to {lock}: choose a later date or reopen the period"
            )
        distance = abs((new_date - locked.entry.date).days)
        if distance > MOVE_WITHOUT_REASON_DAYS and not reason:
            raise ValueError(
                f"{new_date} is {distance} days from the document's date ({locked.entry.date}): "
                f"moving it more than {MOVE_WITHOUT_REASON_DAYS} days needs a reason"
            )
        before = audit.snapshot(locked, ["state", "posting_date"])
        by = getattr(actor, "username", "system")
        locked.note = f"Moved from {locked.posting_date} to {new_date} by {by}" + (
            f": {reason}" if reason else "."
        )
        locked.posting_date = new_date
        locked.state = PostingState.UNCERTAIN
        locked.next_attempt_at = timezone.now()
        locked.save()
        audit.record(
            "posting.moved",
            obj=locked,
            before=before,
            after={**audit.snapshot(locked, ["state", "posting_date"]), "days_from_document": distance,
                   "reason": reason},
            actor=actor,
        )  # fmt: skip
    return locked
