"""The sales system ↔ ledger checks and the invoice check, each a handful of grouped queries.

* :func:`check_unposted` - every transaction of the day must be journaled and its posting (or the
  daily summary that carries it) posted; transactions with nothing to post count as booked.
* :func:`check_channel_days` - per channel, day and currency: the sales system's totals (sales and
  invoices less refunds) against what the postings carried to the ledger (the settlement lines of
  the journal entries posted for those transactions: clearing and receivable).
* the ledger read-back of the built-in ledger is in ``readback``.
* :func:`check_invoices` - invoices still unpaid (by the channel's payments) after their due date.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from decimal import Context as DecimalContext
from decimal import Decimal
from itertools import chain, count
from typing import Any, TypeVar

from django.db import DatabaseError, connection, transaction
from django.db.models import (
    Case,
    CharField,
    DateField,
    DecimalField,
    Exists,
    F,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, NullIf

from integrator import money
from integrator.choices import EntryKind, PostingState, TransactionKind, TransactionStatus
from integrator.models import (
    Channel,
    JournalEntry,
    JournalLine,
    Posting,
    Transaction,
    TransactionPayment,
)
from reconciliation.choices import ExceptionKind
from reconciliation.services.findings import CheckOutcome, Finding

log = logging.getLogger(__name__)

__all__ = [
    "booked_filter",
    "booked_q",
    "check_channel_days",
    "check_external_readback",
    "check_invoices",
    "check_unposted",
    "fmt_amount",
    "found_first",
    "json_date",
    "json_text",
    "reread_external_documents",
    "temp_table",
    "unposted_parts",
    "unsettled_snapshot",
    "unsettled_source",
]

ZERO = Decimal(0)
#: Rows fetched per round trip when a check streams what it found.
CHUNK = 2000
AMOUNT = DecimalField(max_digits=18, decimal_places=4)
SETTLEMENT_ROLES = ("clearing", "receivable")
SALES_KINDS = (TransactionKind.SALE, TransactionKind.REFUND, TransactionKind.INVOICE)
_NOT_PAYING = ("failed", "canceled", "cancelled", "pending", "voided")
_INVOICE_CLOSED = ("paid", "void", "voided", "cancelled", "canceled", "deleted")


M = TypeVar("M", bound=Model)
_FOUND = count(1)


def found_first(found: QuerySet[M]) -> QuerySet[M]:
    """The rows of ``found`` (a check's filter over the whole period), as a queryset of their
    primary keys that the check then annotates and streams.

    A check streams what it found through a server-side cursor (``iterator()``) so that memory
    follows the differences, but PostgreSQL never plans a cursor's query in parallel. So on
    PostgreSQL, inside the step's transaction, the filter - the scan and joins over the period's
    million rows - runs first as ``CREATE TEMP TABLE ... AS``, which may use every parallel worker;
    only the primary keys it found (about 1 % of the rows) go into the temporary table, dropped
    at commit, and the cursor then reads those rows by key. Elsewhere ``found`` is returned as it is.
    """
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        return found
    table = temp_table(*found.order_by().values_list("pk", flat=True).query.sql_with_params(), columns="pk")
    model = found.model
    return model._default_manager.filter(pk__in=RawSQL(f"SELECT pk FROM {table}", ()))  # noqa: S608, S611 - a fixed statement over our own temporary table


def temp_table(sql: str, params: Any, *, columns: str) -> str:
    """Store the rows of ``sql`` in a new temporary table dropped at commit (PostgreSQL, inside a
    transaction), its statistics gathered, and return its name: ``columns`` names its columns.

    A statement that writes its result into a table may use every parallel worker (a cursor's
    never does), and the next statement joins the few rows found with their true count, where a
    subquery's estimate can be off by orders of magnitude (a read-back estimated 2.9 million
    differing documents for the 6,300 there were, and sorted a million journal entries to join
    them)."""
    table = f"_recon_found_{next(_FOUND)}"
    with connection.cursor() as cur:
        create = f"CREATE TEMP TABLE {table} ON COMMIT DROP AS SELECT * FROM ({sql}) f ({columns})"  # noqa: S608 - the name is a counter of ours; values are parameters
        cur.execute(create, params)
        cur.execute(f"ANALYZE {table}")
    return table


def json_text(key: str) -> Coalesce:
    """A text value of the transaction's canonical document as plain text ('' when absent), so
    ``__in`` compares text rather than JSON and a missing key is never NULL."""
    return Coalesce(Cast(KeyTextTransform(key, "document"), output_field=CharField()), Value(""))


def json_date(key: str) -> Cast:
    """A date stored as ISO text in the transaction's canonical document (NULL when absent)."""
    return Cast(NullIf(KeyTextTransform(key, "document"), Value("")), output_field=DateField())


def _current_entries() -> QuerySet[JournalEntry]:
    """The journal entry of a transaction's current revision (correlated to the outer row)."""
    return JournalEntry.objects.filter(
        transaction=OuterRef("pk"), transaction_revision=OuterRef("revision"), kind=EntryKind.TRANSACTION
    )


def booked_filter() -> Q:
    """Transactions whose current revision reached the ledger (or had nothing to post)."""
    entries = _current_entries()
    return Q(status=TransactionStatus.POSTED) & (
        Q(Exists(entries.filter(posting__state=PostingState.POSTED)))
        | Q(Exists(entries.filter(summary__posting__state=PostingState.POSTED)))
        | ~Q(Exists(entries))
    )


def _unsettled_sql(start: date, end: date) -> tuple[str, list[Any]]:
    """The ids of the period's *unsettled* transactions: posted in the sales system, with a journal
    entry of their current revision, and no such entry posted - neither by its own posting nor by
    the posting of the daily summary that carries it.

    They are the only posted transactions that are not booked (:func:`booked_filter`): booked is
    posted less unsettled, and unposted is not posted plus unsettled. Usually there are none, at
    worst a few per cent, so the checks ask for them by key (a hashed lookup) instead of each
    joining the journal and the postings of the whole period again. The summary's posting is a
    second outer join of the postings on ``summary_id``, not a correlated ``EXISTS`` inside the
    entry's ``EXISTS``: PostgreSQL runs a correlated subquery in the leader only, and the joins may
    use every parallel worker. One pass joins the period's transactions with their current entries
    and those entries' postings, keeping the entries not settled; only for those few is it asked
    whether another current entry of the same transaction settled it.
    """
    t = {m.__name__: m._meta.db_table for m in (Transaction, JournalEntry, Posting)}
    settled = "(p.state = %s OR s.state = %s)"
    sql = (
        f"SELECT DISTINCT t.id FROM {t['Transaction']} t\n"  # noqa: S608 - table names come from the models; every value is a bound parameter
        f"    JOIN {t['JournalEntry']} e\n"
        f"        ON e.kind = %s AND e.transaction_id = t.id AND e.transaction_revision = t.revision\n"
        f"    LEFT JOIN {t['Posting']} p ON p.entry_id = e.id\n"
        f"    LEFT JOIN {t['Posting']} s ON s.entry_id = e.summary_id\n"
        f"WHERE t.business_date BETWEEN %s AND %s AND t.status = %s AND NOT COALESCE({settled}, FALSE)\n"
        f"    AND NOT EXISTS (SELECT 1 FROM {t['JournalEntry']} e\n"
        f"        LEFT JOIN {t['Posting']} p ON p.entry_id = e.id\n"
        f"        LEFT JOIN {t['Posting']} s ON s.entry_id = e.summary_id\n"
        f"        WHERE e.kind = %s AND e.transaction_id = t.id AND e.transaction_revision = t.revision\n"
        f"            AND {settled})"
    )
    posted, entry = PostingState.POSTED, EntryKind.TRANSACTION
    return sql, [entry, start, end, TransactionStatus.POSTED, posted, posted, entry, posted, posted]


_SNAPSHOT: ContextVar[tuple[date, date, str] | None] = ContextVar("reconciliation_unsettled", default=None)


@contextmanager
def unsettled_snapshot(start: date, end: date) -> Iterator[None]:
    """Compute the unsettled transactions of ``start``..``end`` (:func:`_unsettled_sql`) once, into
    a temporary table kept for the block (a reconciliation run), so that every check of the run
    derives booked and unposted from it by key. At 1,000,000 transactions each check otherwise
    joined the journal entries and the postings of the period again (unposted, channel-day and
    the cash takings of the payouts step: three such joins).

    The snapshot is taken once, at the start of the run, and the checks all see the same set. A
    transaction that leaves it during the run (its posting reaches the ledger meanwhile) counts as
    not booked on both sides of this run's sums, and as booked from the next run on.
    """
    table = f"_recon_unsettled_{next(_FOUND)}"
    sql, params = _unsettled_sql(start, end)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE {table} AS {sql}", params)
        if connection.vendor == "postgresql":
            cur.execute(f"ANALYZE {table}")
    token = _SNAPSHOT.set((start, end, table))
    try:
        yield
    finally:
        _SNAPSHOT.reset(token)
        try:
            with connection.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {table}")
        except DatabaseError:  # the connection is gone, and its temporary tables with it
            log.warning("could not drop the reconciliation snapshot %s", table, exc_info=True)


def unsettled_source(start: date, end: date) -> tuple[str, list[Any]]:
    """A statement giving the ids of the unsettled transactions of ``start``..``end`` (perhaps with
    days around it): the run's snapshot when one covers the period, else the query itself."""
    snapshot = _SNAPSHOT.get()
    if snapshot is not None and snapshot[0] <= start and end <= snapshot[1]:
        return f"SELECT id FROM {snapshot[2]}", []  # noqa: S608 - a temporary table of ours
    return _unsettled_sql(start, end)


def booked_q(start: date, end: date) -> Q:
    """Transactions of ``start``..``end`` that are booked (:func:`booked_filter`): posted, and not
    unsettled - an anti-join against the few unsettled ones by key."""
    unsettled = RawSQL(*unsettled_source(start, end))  # noqa: S611 - our own statement; values are parameters
    return Q(status=TransactionStatus.POSTED) & ~Q(pk__in=unsettled)


def unposted_parts(start: date, end: date) -> tuple[Q, Q]:
    """The complement of :func:`booked_q` as two disjoint filters without an OR: not posted, and
    unsettled (by key)."""
    unsettled = RawSQL(*unsettled_source(start, end))  # noqa: S611 - our own statement; values are parameters
    # Still posted: one revised since the snapshot was taken is in the first part, not in both.
    posted = Q(status=TransactionStatus.POSTED)
    return ~posted, posted & Q(pk__in=unsettled)


def fmt_amount(amount: Decimal | None, currency: str) -> str:
    """An amount in words: rounded to its currency, with thousands separators and the code."""
    if amount is None:
        return "-"
    return f"{money.quantize(amount, currency):,} {currency}"


def _why_unposted(row: Any) -> str:
    """Why a transaction is not in the ledger, in words a finance clerk understands."""
    status, reasons = row["status"], "; ".join(row["status_reasons"] or [])
    state, error = row["posting_state"], row["posting_error"] or ""
    if status == TransactionStatus.RECEIVED:
        return "it was received but has not been processed yet"
    if status == TransactionStatus.INVALID:
        return f"it is invalid: {reasons}"
    if status == TransactionStatus.NEEDS_MAPPING:
        return f"it waits for a mapping: {reasons}"
    if status == TransactionStatus.SUMMARISED:
        if row["summary_state"]:
            return f"its daily summary is {row['summary_state']}, not posted"
        return "it waits for the daily summary of its day, which has not been closed"
    if state == PostingState.HELD:
        return f"its posting is held: {error}"
    if state == PostingState.DEAD:
        return f"its posting failed for good (dead letter): {error}"
    if state in (PostingState.PENDING, PostingState.SENDING, PostingState.UNCERTAIN):
        return f"its posting is {state}" + (f" ({error})" if error else "")
    if status == TransactionStatus.FAILED:
        return f"posting failed: {reasons or error}"
    return f"its status is {status} but no posted document carries it"


def check_unposted(start: date, end: date) -> CheckOutcome:
    """Transactions of the period that did not reach the ledger, with the reason in words."""
    of_period = Transaction.objects.filter(business_date__range=(start, end))
    return CheckOutcome(
        name="unposted transactions",
        scope=Q(kind=ExceptionKind.UNPOSTED_TRANSACTION, day__range=(start, end)),
        findings=chain.from_iterable(
            _unposted_findings(found_first(of_period.filter(part))) for part in unposted_parts(start, end)
        ),
        checked=of_period.count(),
    )


def _unposted_findings(unposted: QuerySet[Transaction]) -> Iterator[Finding]:
    """Findings of unposted transactions, with the state of their posting (streamed)."""
    entries = _current_entries()
    rows = unposted.annotate(
        posting_id=Subquery(entries.values("posting__id")[:1]),
        posting_state=Subquery(entries.values("posting__state")[:1]),
        posting_error=Subquery(entries.values("posting__last_error")[:1]),
        summary_state=Subquery(entries.values("summary__posting__state")[:1]),
    ).values(
        "pk",
        "kind",
        "number",
        "external_id",
        "status",
        "status_reasons",
        "business_date",
        "currency",
        "total",
        "channel_id",
        "channel__name",
        "channel__ledger_connection_id",
        "posting_id",
        "posting_state",
        "posting_error",
        "summary_state",
    )
    return (
        Finding(
            key=f"{ExceptionKind.UNPOSTED_TRANSACTION}:{r['pk']}",
            kind=ExceptionKind.UNPOSTED_TRANSACTION,
            day=r["business_date"],
            currency=r["currency"],
            amount=money.quantize(r["total"], r["currency"]),
            explanation=(
                f"{r['kind'].capitalize()} {r['number'] or r['external_id']} of {r['channel__name']} on "
                f"{r['business_date']} ({fmt_amount(r['total'], r['currency'])}) is not in the ledger: "
                f"{_why_unposted(r)}."
            ),
            channel_id=r["channel_id"],
            connection_id=r["channel__ledger_connection_id"],
            transaction_id=r["pk"],
            posting_id=r["posting_id"],
        )
        for r in rows.iterator(chunk_size=CHUNK)
    )


def _signed(field: str, kind_field: str) -> Case:
    """+amount for sales and invoices, -amount for refunds."""
    return Case(
        When(**{kind_field: TransactionKind.REFUND}, then=-F(field)), default=F(field), output_field=AMOUNT
    )


def db_decimal(value: Any) -> Decimal | None:
    """An amount summed by the database in raw SQL as a Decimal (SQLite sums decimals as floats:
    rounded to the models' four places, as Django's own converter does)."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return _FLOATS.create_decimal_from_float(value).quantize(Decimal("0.0001"))
    return Decimal(value)


_FLOATS = DecimalContext(prec=15)


def as_date(value: Any) -> date:
    """A date column of a raw row (SQLite returns ISO text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def channel_pk(value: Any) -> Any:
    """A channel id column of a raw row as the model's pk (SQLite returns the UUID's hex)."""
    return Channel._meta.pk.to_python(value)


def _channel_day_sql(start: date, end: date) -> tuple[str, list[Any]]:
    """Per channel, day and currency: the sales system's total of the booked sales, refunds and
    invoices (less their gift-card tenders), how many there are, and the net of the settlement
    lines (clearing, receivable) of the journal entries posted for them - in one statement.

    The booked transactions (``booked``: posted and not unsettled, :func:`booked_q`, by key against
    the run's snapshot) feed the totals, the gift cards and the settlement lines, and the three
    branches are summed in one GROUP BY. A booked transaction's entries of earlier revisions count
    for nothing in the sums, and one with nothing to post has no entry of its current revision.
    The entries are joined on the transaction alone: joined on the pair (transaction, revision),
    PostgreSQL estimated the rows at 0.5 % of what they are and planned nested loops. Done as five
    ORM queries, each repeated the joins of the journal and the postings over the whole period
    (12 s of database time at 1,000,000 transactions). The settlement lines are keyed by their
    entry's channel and currency and their transaction's day.
    """
    pay, entry, line, txn = (
        m._meta.db_table for m in (TransactionPayment, JournalEntry, JournalLine, Transaction)
    )
    kinds = ", ".join(["%s"] * len(SALES_KINDS))
    roles = ", ".join(["%s"] * len(SETTLEMENT_ROLES))
    unsettled, u_params = unsettled_source(start, end)
    sql = (
        f"WITH booked AS (SELECT t.id, t.revision, t.channel_id, t.business_date, t.currency, t.kind, t.total\n"  # noqa: S608 - table names and our own SQL; every value is a bound parameter
        f"    FROM {txn} t WHERE t.business_date BETWEEN %s AND %s AND t.kind IN ({kinds}) AND t.status = %s\n"
        f"    AND t.id NOT IN ({unsettled}))\n"
        f"""
        SELECT channel_id, business_date, currency, SUM(total), SUM(n), SUM(carried), SUM(lines) FROM (
            SELECT channel_id, business_date, currency,
                   CASE WHEN kind = %s THEN -total ELSE total END AS total, 1 AS n, 0 AS carried, 0 AS lines
            FROM booked
            UNION ALL
            SELECT b.channel_id, b.business_date, b.currency,
                   CASE WHEN b.kind = %s THEN p.amount ELSE -p.amount END, 0, 0, 0
            FROM booked b JOIN {pay} p ON p.transaction_id = b.id
            WHERE p.kind = %s
            UNION ALL
            SELECT e.channel_id, b.business_date, e.currency, 0, 0,
                   CASE WHEN e.transaction_revision = b.revision THEN l.debit - l.credit ELSE 0 END,
                   CASE WHEN e.transaction_revision = b.revision THEN 1 ELSE 0 END
            FROM booked b
            JOIN {entry} e ON e.transaction_id = b.id AND e.kind = %s
            JOIN {line} l ON l.entry_id = e.id AND l.role IN ({roles})
        ) x
        GROUP BY channel_id, business_date, currency
    """
    )
    params = [start, end, *SALES_KINDS, TransactionStatus.POSTED, *u_params, TransactionKind.REFUND,
              TransactionKind.REFUND, "gift_card", EntryKind.TRANSACTION, *SETTLEMENT_ROLES]  # fmt: skip
    return sql, params


def check_channel_days(start: date, end: date) -> CheckOutcome:
    """Sales system totals against what the postings carried, per channel, day and currency
    (the sums in one statement, :func:`_channel_day_sql`)."""
    source: dict[tuple[Any, ...], dict[str, Any]] = {}
    carried: dict[tuple[Any, ...], Decimal] = {}
    sql, params = _channel_day_sql(start, end)
    with connection.cursor() as cur:
        cur.execute(sql, params)
        for channel_id, day, currency, total, n, net, lines in cur.fetchall():  # a row per channel-day
            k = (channel_pk(channel_id), as_date(day), currency)
            if n:  # booked transactions of that key (their totals less their gift-card tenders)
                source[k] = {"total": db_decimal(total) or ZERO, "n": int(n)}
            if lines:  # settlement lines of that key
                carried[k] = db_decimal(net) or ZERO
    names = dict(Channel.objects.values_list("pk", "name"))
    conns = dict(Channel.objects.values_list("pk", "ledger_connection_id"))
    findings, days = [], []
    for k in sorted(set(source) | set(carried), key=str):
        channel_id, day, cur = k
        expected = money.quantize(source.get(k, {}).get("total", ZERO), cur)
        actual = money.quantize(carried.get(k, ZERO), cur)
        days.append(
            {
                "channel": names.get(channel_id, ""),
                "day": str(day),
                "currency": cur,
                "transactions": source.get(k, {}).get("n", 0),
                "sales_system": str(expected),
                "posted": str(actual),
                "difference": str(actual - expected),
            }
        )
        if expected == actual:
            continue
        findings.append(
            Finding(
                key=f"{ExceptionKind.AMOUNT_MISMATCH}:channel-day:{channel_id}:{day}:{cur}",
                kind=ExceptionKind.AMOUNT_MISMATCH,
                day=day,
                currency=cur,
                amount=actual - expected,
                expected=expected,
                actual=actual,
                explanation=(
                    f"{names.get(channel_id, 'A channel')} on {day}: the sales system's posted sales, refunds "
                    f"and invoices come to {fmt_amount(expected, cur)}, but the documents posted to the ledger for "
                    f"them carry {fmt_amount(actual, cur)} (difference {fmt_amount(actual - expected, cur)})."
                ),
                channel_id=channel_id,
                connection_id=conns.get(channel_id),
            )
        )
    return CheckOutcome(
        name="sales system vs ledger per channel-day",
        scope=Q(kind=ExceptionKind.AMOUNT_MISMATCH, key__contains=":channel-day:", day__range=(start, end)),
        findings=findings,
        checked=len(days),
        facts={"channel_days": days},
    )


def reread_external_documents(start: date, end: date) -> int:
    """Read every posted document of the period back from its external ledger (QuickBooks, Xero,
    ...) and store the comparison on its posting. Someone may have edited a document in the ledger
    since it was verified after posting. Runs outside any database transaction (vendor calls, at
    the vendor's rate limits); returns how many documents were read."""
    from integrator.services.readback import verify_posting

    read = 0
    for pk in list(_external_postings(start, end).values_list("pk", flat=True)):
        if verify_posting(pk) is not None:
            read += 1
    return read


def _external_postings(start: date, end: date) -> QuerySet[Posting]:
    """The posted documents of the period in external ledgers that can be read back (none, and no
    query, when no such ledger holds a posting)."""
    from integrator.services.readback import readable_connections

    external = [pk for pk, platform in readable_connections().items() if platform != "builtin"]
    return Posting.objects.filter(
        state=PostingState.POSTED, connection_id__in=external, posting_date__range=(start, end)
    )


def check_external_readback(start: date, end: date) -> CheckOutcome:
    """For external ledgers that can be read back: each difference per account, tax code or total
    found by the last read-back (:func:`reread_external_documents`, run just before this check by
    the reconciliation run) becomes an exception naming the document and the amounts. A document
    that could not be read is read again by the next run."""
    read = _external_postings(start, end).filter(verified_at__isnull=False)
    return CheckOutcome(
        name="external ledger read-back",
        scope=Q(kind=ExceptionKind.AMOUNT_MISMATCH, key__contains=":readback:", day__range=(start, end)),
        findings=_external_findings(read),
        checked=read.count(),
    )


def _external_findings(read: QuerySet[Posting]) -> Iterator[Finding]:
    """Findings of the documents whose last read-back differed (streamed)."""
    for p in read.select_related("entry", "connection").iterator(chunk_size=CHUNK):
        readback = p.readback or {}
        if readback.get("ok", True):
            continue
        cur = p.entry.currency
        expected = Decimal(str((readback.get("expected") or {}).get("total") or 0))
        actual = Decimal(str((readback.get("actual") or {}).get("total") or 0))
        problems = "; ".join(readback.get("problems") or []) or "the amounts differ"
        yield (
            Finding(
                key=f"{ExceptionKind.AMOUNT_MISMATCH}:readback:{p.pk}",
                kind=ExceptionKind.AMOUNT_MISMATCH,
                day=p.posting_date,
                currency=cur,
                amount=money.quantize(actual - expected, cur),
                expected=money.quantize(expected, cur),
                actual=money.quantize(actual, cur),
                channel_id=p.entry.channel_id,
                connection_id=p.connection_id,
                transaction_id=p.entry.transaction_id,
                posting_id=p.pk,
                explanation=(
                    f"{p.connection.name} holds {p.entry.reference} ({p.remote_number or p.remote_id}) "
                    f"differently from our journal: {problems}."
                ),
            )
        )


def check_invoices(start: date, end: date) -> CheckOutcome:
    """Invoices due before ``end`` that the channel's payments have not settled."""
    paid = (
        Transaction.objects.filter(channel=OuterRef("channel"), kind=TransactionKind.PAYMENT)
        .annotate(invoice=json_text("invoice_external_id"), pay_status=json_text("status"))
        .filter(invoice=OuterRef("external_id"))
        .exclude(pay_status__in=_NOT_PAYING)
        .values("channel")
        .annotate(s=Sum("total"))
        .values("s")
    )
    invoices = (
        Transaction.objects.filter(kind=TransactionKind.INVOICE)
        .annotate(due=json_date("due_date"), doc_status=json_text("status"))
        .filter(due__lt=end)
        .exclude(doc_status__in=_INVOICE_CLOSED)
        .annotate(paid=Coalesce(Subquery(paid, output_field=AMOUNT), Value(ZERO), output_field=AMOUNT))
        .filter(paid__lt=F("total"))
        .values(
            "pk",
            "number",
            "external_id",
            "due",
            "currency",
            "total",
            "paid",
            "channel_id",
            "channel__name",
            "channel__ledger_connection_id",
            "document",
        )
    )
    return CheckOutcome(
        name="invoices vs payments",
        scope=Q(kind=ExceptionKind.INVOICE_UNPAID, day__lt=end),
        findings=_unpaid_findings(invoices),
        checked=Transaction.objects.filter(kind=TransactionKind.INVOICE).count(),
    )


def _unpaid_findings(invoices: QuerySet[Any]) -> Iterator[Finding]:
    """Findings of the unpaid invoices (streamed)."""
    for inv in invoices.iterator(chunk_size=CHUNK):
        cur = inv["currency"]
        outstanding = money.quantize(inv["total"] - inv["paid"], cur)
        customer = (inv["document"].get("customer") or {}).get("name") or "the customer"
        yield (
            Finding(
                key=f"{ExceptionKind.INVOICE_UNPAID}:{inv['pk']}",
                kind=ExceptionKind.INVOICE_UNPAID,
                day=inv["due"],
                currency=cur,
                amount=outstanding,
                expected=money.quantize(inv["total"], cur),
                actual=money.quantize(inv["paid"], cur),
                channel_id=inv["channel_id"],
                connection_id=inv["channel__ledger_connection_id"],
                transaction_id=inv["pk"],
                explanation=(
                    f"Invoice {inv['number'] or inv['external_id']} to {customer} ({inv['channel__name']}) "
                    f"for {fmt_amount(inv['total'], cur)} was due on {inv['due']}: {fmt_amount(inv['paid'], cur)} received, "
                    f"{fmt_amount(outstanding, cur)} outstanding."
                ),
            )
        )
