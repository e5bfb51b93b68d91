"""Journaling a batch of new transactions with one statement per table (issue 19).

:func:`integrator.services.pipeline.advance_transaction` journals one transaction: it locks the
row, drafts the lines under the mapping version in force, saves the entry, its lines and its
posting and sets the status, about eight statements a sale. A worker's batch of new sales
(:func:`integrator.services.pipeline.process_event_batch`) does the same work here for all of
them at once:

1. lock the batch's transactions (one ``SELECT ... FOR UPDATE``, in primary-key order so two
   batches never wait on each other in a circle);
2. draft each one's entry in Python, exactly as ``advance_transaction`` does (same mapping
   version in force, rule book, rate, checks, reference and number);
3. save the entries, their lines and their postings (one ``INSERT`` per table), set the statuses
   (one ``UPDATE`` per status) and gather the audit rows for the batch's single append;
4. on commit, ask for the postings to be sent with as few broker messages as the posting task
   allows (:func:`integrator.services.posting.enqueue_sending`).

Only what ``advance_transaction`` would journal without any other write takes this path: the
first revision of a received sale, invoice or payment whose ledger keeps no stock and whose
channel checks no tax, that validates, has a mapping version in force and drafts balanced lines.
Everything else (a refund, a payout, a revision, anything held, invalid or unbalanced) is handed
back and goes one by one through ``advance_transaction``, which says why in its status. Should
the database refuse the batch's writes, they are undone (a savepoint) and every transaction goes
one by one as well, so the outcome never depends on which path ran.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import Min
from django.utils import timezone

from integrator.canonical import Invoice, Payment, Refund, Sale
from integrator.choices import PostingMode, TransactionStatus
from integrator.models import JournalEntry, JournalLine, Posting, Transaction
from integrator.services.bulk import insert_all
from integrator.services.channels import share_channels
from integrator.services.inventory.spine import on_journal_idle
from integrator.services.journal import (
    NeedsMapping,
    Unbalanced,
    build_entry,
    draft_lines,
)
from integrator.services.mappings import RuleBook, version_in_force
from integrator.services.posting import build_posting, enqueue_sending
from integrator.services.rates import NeedsRate
from integrator.services.transactions import document_of, validate_document

__all__ = ["journal_new_transactions"]

#: The documents a batch journals (those whose journaling reads nothing but their own row).
BATCHED_KINDS = (Sale, Invoice, Payment)


@dataclass
class _Drafted:
    """One transaction's journal, built and not yet saved."""

    txn: Transaction
    entry: JournalEntry
    lines: list[JournalLine]
    posting: Posting | None
    status: str


def journal_new_transactions(
    pks: Iterable[Any], *, audit_rows: list[dict[str, Any]], inserted: Iterable[Transaction] = ()
) -> list[Any]:
    """Journal the transactions ``pks`` that a batch can (see the module) inside the caller's
    database transaction; returns the others' ids, in the given order, for ``advance_transaction``.

    ``inserted`` are those of them the caller's transaction has just inserted, as it inserted them:
    no other transaction can see those rows yet, so they are neither locked nor read again. The
    others are locked and read. ``audit_rows`` gathers their audit rows for the batch's one append;
    refunds that waited for one of these documents are journaled on commit, as
    ``advance_transaction`` does for one.
    """
    order = list(dict.fromkeys(pks))
    known = {t.pk: t for t in inserted}
    share_channels(list(known.values()))
    others = [pk for pk in order if pk not in known]
    locked = known | {
        t.pk: t
        for t in Transaction.objects.select_for_update(of=("self",))
        .select_related("channel__ledger_connection")
        .filter(pk__in=others)
        .order_by("pk")
    }
    candidates = [locked[pk] for pk in order if pk in locked]
    taken = _numbers_taken(candidates)
    drafted = [made for made in (_draft(txn, taken) for txn in candidates) if made is not None]
    if not drafted:
        return order
    kept = len(audit_rows)
    try:
        with transaction.atomic():
            _save(drafted, audit_rows)
    except DatabaseError:
        del audit_rows[kept:]
        return order  # undone: every one goes through advance_transaction instead
    _refunds_waiting(drafted)
    done = {d.txn.pk for d in drafted}
    return [pk for pk in order if pk not in done]


def _draft(txn: Transaction, taken: set[tuple[Any, str, str]]) -> _Drafted | None:
    """The journal ``advance_transaction`` would make for ``txn`` when it is a plain case (see the
    module), else None (it then goes one by one). The lines, their rate and the entry's fields
    come from the pipeline's own functions, so both paths journal alike."""
    from integrator.services.pipeline import converted, entry_fields  # the pipeline imports this module

    channel = txn.channel
    connection = channel.ledger_connection
    if txn.status != TransactionStatus.RECEIVED or txn.revision != 1 or connection is None:
        return None
    try:
        doc = document_of(txn)
    except Exception:
        return None
    if not isinstance(doc, BATCHED_KINDS) or not on_journal_idle(txn, doc):
        return None
    if validate_document(doc, sale_known=True):
        return None
    version = version_in_force(channel, connection, txn.business_date, cached=True)
    if version is None:
        return None
    book = RuleBook.load(version, cached=True)
    try:
        lines = draft_lines(doc, book, None, refunded=None)
        if not lines:
            return None
        lines, quote = converted(txn, doc, book, lines)
        entry, rows = build_entry(**entry_fields(txn, doc, lines, version, quote, taken=taken))
    except (NeedsMapping, NeedsRate, Unbalanced):
        return None  # advance_transaction holds it and says why
    entry.connection = connection
    if channel.posting_mode == PostingMode.PER_TRANSACTION:
        return _Drafted(txn, entry, rows, build_posting(entry), TransactionStatus.JOURNALED)
    return _Drafted(txn, entry, rows, None, TransactionStatus.SUMMARISED)


def _numbers_taken(txns: list[Transaction]) -> set[tuple[Any, str, str]]:
    """The ``(transaction id, kind, number)`` of the batch's transactions whose number an older
    document of the same channel and kind already has (a till's ticket numbers restart).

    ``display_number`` asks this with one query per transaction; here one grouped query answers
    for the batch (the earliest other document with each number) and the batch's own rows are
    compared in Python."""
    numbered = [t for t in txns if t.number and t.number != t.external_id]
    if not numbered:
        return set()
    ids = {t.pk for t in numbered}
    earliest: dict[tuple[Any, str, str], datetime] = {
        (row["channel_id"], row["kind"], row["number"]): row["first"]
        for row in Transaction.objects.filter(
            channel_id__in={t.channel_id for t in numbered}, number__in={t.number for t in numbered}
        )
        .exclude(pk__in=ids)
        .values("channel_id", "kind", "number")
        .annotate(first=Min("created_at"))
        .order_by()
    }
    created: dict[tuple[Any, str, str], list[datetime]] = {}
    for t in numbered:
        created.setdefault((t.channel_id, t.kind, t.number), []).append(t.created_at)
    taken: set[tuple[Any, str, str]] = set()
    for t in numbered:
        key = (t.channel_id, t.kind, t.number)
        first = min(created[key])  # the batch's oldest with this number
        if first < t.created_at or (key in earliest and earliest[key] < t.created_at):
            taken.add((t.pk, t.kind, t.number))
    return taken


def _save(drafted: list[_Drafted], audit_rows: list[dict[str, Any]]) -> None:
    """Save the batch's entries, lines and postings, set the statuses and gather the audit rows
    (as ``advance_transaction``'s ``_set_status`` writes them, one per transaction)."""
    insert_all([d.entry for d in drafted])
    insert_all([line for d in drafted for line in d.lines])
    postings = [d.posting for d in drafted if d.posting is not None]
    insert_all(postings)
    now = timezone.now()
    by_status: dict[str, list[Any]] = {}
    for d in drafted:
        by_status.setdefault(d.status, []).append(d.txn.pk)
    for status, pks in by_status.items():
        Transaction.objects.filter(pk__in=pks).update(status=status, status_reasons=[], updated_at=now)
    for d in drafted:
        before = {"status": d.txn.status, "revision": d.txn.revision}
        d.txn.status, d.txn.status_reasons = d.status, []
        audit_rows.append(
            {
                "action": f"transaction.{d.status}",
                "obj": d.txn,
                "before": before,
                "after": {"status": d.status, "revision": d.txn.revision, "reasons": []},
                "actor": None,
                "actor_label": "worker",
                "occurred_at": now,
            }
        )
    enqueue_sending(postings)


def _refunds_waiting(drafted: list[_Drafted]) -> None:
    """Refunds held as invalid because the document they give money back for had not arrived:
    journaled again on commit now that it has (one query for the batch)."""
    wanted = {(d.txn.channel_id, d.txn.external_id) for d in drafted}
    waiting = [
        pk
        for pk, channel_id, sale_id in Transaction.objects.filter(
            channel_id__in={c for c, _ in wanted},
            kind=Refund.kind,
            status=TransactionStatus.INVALID,
            document__sale_external_id__in=sorted({e for _, e in wanted}),
        ).values_list("pk", "channel_id", "document__sale_external_id")
        if (channel_id, sale_id) in wanted
    ]
    if waiting:
        from integrator.services.pipeline import advance_transaction

        transaction.on_commit(lambda: [advance_transaction(pk) for pk in waiting])
