"""The sales system ↔ ledger checks and the invoice check, each a handful of grouped queries.

* :func:`check_unposted` - every transaction of the day must be journaled and its posting (or the
  daily summary that carries it) posted; transactions with nothing to post count as booked.
* :func:`check_channel_days` - per channel, day and currency: the sales system's totals (sales and
  invoices less refunds) against what the postings carried to the ledger (the settlement lines of
  the journal entries posted for those transactions: clearing and receivable).
* :func:`check_ledger_readback` - for the built-in ledger, which we can read back: every posted
  document is in the books with the same amounts per account, and nothing in the books claims to
  come from us without a posting.
* :func:`check_invoices` - invoices still unpaid (by the channel's payments) after their due date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Context as DecimalContext
from decimal import Decimal
from itertools import chain, groupby, islice
from operator import itemgetter
from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    DateField,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, NullIf

from integrator import money
from integrator.choices import EntryKind, PostingState, TransactionKind, TransactionStatus
from integrator.models import (
    BookEntry,
    BookLine,
    Channel,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    LedgerConnection,
    Posting,
    Transaction,
)
from reconciliation.choices import ExceptionKind
from reconciliation.services.findings import CheckOutcome, Finding

__all__ = [
    "booked_filter",
    "check_channel_days",
    "check_external_readback",
    "check_invoices",
    "check_ledger_readback",
    "check_unposted",
    "json_date",
    "json_text",
    "reread_external_documents",
]

ZERO = Decimal(0)
#: Rows fetched per round trip when a check streams what it found.
CHUNK = 2000
AMOUNT = DecimalField(max_digits=18, decimal_places=4)
SETTLEMENT_ROLES = ("clearing", "receivable")
SALES_KINDS = (TransactionKind.SALE, TransactionKind.REFUND, TransactionKind.INVOICE)
_NOT_PAYING = ("failed", "canceled", "cancelled", "pending", "voided")
_INVOICE_CLOSED = ("paid", "void", "voided", "cancelled", "canceled", "deleted")


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


def _current_entries_of(start: date, end: date) -> QuerySet[JournalEntry]:
    """The current-revision journal entries of the transactions of a period (not correlated)."""
    return JournalEntry.objects.filter(
        kind=EntryKind.TRANSACTION,
        transaction__business_date__range=(start, end),
        transaction_revision=F("transaction__revision"),
    )


def booked_filter(start: date | None = None, end: date | None = None) -> Q:
    """Transactions whose current revision reached the ledger (or had nothing to post).

    Given the period the filtered transactions lie in, the three tests are uncorrelated ``IN``
    subqueries over that period's journal entries: the database builds each set once (a hash
    semi-join) instead of probing the journal three times per transaction, which is what the
    correlated ``EXISTS`` form (kept for callers without a period) costs when ORed together.
    """
    if start is None or end is None:
        entries = _current_entries()
        return Q(status=TransactionStatus.POSTED) & (
            Q(Exists(entries.filter(posting__state=PostingState.POSTED)))
            | Q(Exists(entries.filter(summary__posting__state=PostingState.POSTED)))
            | ~Q(Exists(entries))
        )
    of_period = _current_entries_of(start, end)
    return Q(status=TransactionStatus.POSTED) & (
        Q(pk__in=of_period.filter(posting__state=PostingState.POSTED).values("transaction_id"))
        | Q(pk__in=of_period.filter(summary__posting__state=PostingState.POSTED).values("transaction_id"))
        | ~Q(pk__in=of_period.values("transaction_id"))
    )


def _fmt(amount: Decimal | None, currency: str) -> str:
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
    entries = _current_entries()
    rows = (
        of_period.exclude(booked_filter(start, end))
        .annotate(
            posting_id=Subquery(entries.values("posting__id")[:1]),
            posting_state=Subquery(entries.values("posting__state")[:1]),
            posting_error=Subquery(entries.values("posting__last_error")[:1]),
            summary_state=Subquery(entries.values("summary__posting__state")[:1]),
        )
        .values(
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
    )
    findings = (
        Finding(
            key=f"{ExceptionKind.UNPOSTED_TRANSACTION}:{r['pk']}",
            kind=ExceptionKind.UNPOSTED_TRANSACTION,
            day=r["business_date"],
            currency=r["currency"],
            amount=money.quantize(r["total"], r["currency"]),
            explanation=(
                f"{r['kind'].capitalize()} {r['number'] or r['external_id']} of {r['channel__name']} on "
                f"{r['business_date']} ({_fmt(r['total'], r['currency'])}) is not in the ledger: "
                f"{_why_unposted(r)}."
            ),
            channel_id=r["channel_id"],
            connection_id=r["channel__ledger_connection_id"],
            transaction_id=r["pk"],
            posting_id=r["posting_id"],
        )
        for r in rows.iterator(chunk_size=CHUNK)
    )
    return CheckOutcome(
        name="unposted transactions",
        scope=Q(kind=ExceptionKind.UNPOSTED_TRANSACTION, day__range=(start, end)),
        findings=findings,
        checked=of_period.count(),
    )


def _signed(field: str, kind_field: str) -> Case:
    """+amount for sales and invoices, -amount for refunds."""
    return Case(
        When(**{kind_field: TransactionKind.REFUND}, then=-F(field)), default=F(field), output_field=AMOUNT
    )


def check_channel_days(start: date, end: date) -> CheckOutcome:
    """Sales system totals against what the postings carried, per channel, day and currency."""
    booked = Transaction.objects.filter(business_date__range=(start, end), kind__in=SALES_KINDS).filter(
        booked_filter(start, end)
    )
    key = ("channel_id", "business_date", "currency")
    source: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in booked.values(*key).annotate(total=Sum(_signed("total", "kind")), n=Count("pk")).order_by():
        source[tuple(row[k] for k in key)] = {"total": row["total"] or ZERO, "n": row["n"]}
    gift_cards = (
        booked.filter(payments__kind="gift_card")
        .values(*key)
        .annotate(total=Sum(_signed("payments__amount", "kind")))
        .order_by()
    )
    for row in gift_cards:
        # Gift-card tenders settle against the gift-card liability, not clearing or receivable.
        source[tuple(row[k] for k in key)]["total"] -= row["total"] or ZERO
    carried: dict[tuple[Any, ...], Decimal] = defaultdict(lambda: ZERO)
    lines = JournalLine.objects.filter(
        entry__kind=EntryKind.TRANSACTION,
        entry__transaction__in=booked,
        entry__transaction_revision=F("entry__transaction__revision"),
        role__in=SETTLEMENT_ROLES,
    )
    for row in (
        lines.values("entry__channel_id", "entry__transaction__business_date", "entry__currency")
        .annotate(net=Sum(F("debit") - F("credit"), output_field=AMOUNT))
        .order_by()
    ):
        k = (row["entry__channel_id"], row["entry__transaction__business_date"], row["entry__currency"])
        carried[k] += row["net"] or ZERO
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
                    f"and invoices come to {_fmt(expected, cur)}, but the documents posted to the ledger for "
                    f"them carry {_fmt(actual, cur)} (difference {_fmt(actual - expected, cur)})."
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


def _readback_sql(start: date, end: date, postings: list[Any] | None = None) -> tuple[str, list[Any]]:
    """The ledger read-back as one statement: per posted document and account, what we sent (our
    journal) beside what the built-in ledger holds (its book lines under the same reference).

    This is a FULL OUTER JOIN of the two sides per (document, account) - an account on one side
    only is a difference too - written as the union of both sides' lines grouped once: a side
    with no line for the account sums to NULL. Unlike a join of two grouped subqueries it needs no
    index on an intermediate result (SQLite, which has no hash join, would otherwise compare every
    pair of rows, and before 3.39 has no FULL OUTER JOIN at all), and PostgreSQL groups it in one
    hash aggregate.

    Without ``postings`` it returns the ids of the documents with a difference (or with nothing
    in the books): one pass over the period, grouped in the database. With ``postings`` (a batch
    of those ids) it returns their rows per account, ordered by document and account. Amounts are
    compared exactly here; the currency's rounding is applied to the few rows that come back
    (:func:`check_ledger_readback`), so a sub-cent difference stays silent as before.
    """
    # Table names come from the models and every value is a parameter (hence the noqa: S608).
    t = {m.__name__: m._meta.db_table for m in (Posting, LedgerConnection, JournalEntry, JournalLine,
                                                 LedgerAccount, BookEntry, BookLine)}  # fmt: skip
    only = f" AND po.id IN ({', '.join(['%s'] * len(postings))})" if postings else ""
    period = f"po.state = %s AND lc.platform = %s AND po.posting_date BETWEEN %s AND %s{only}"
    args = [PostingState.POSTED, "builtin", start, end, *(postings or [])]
    # Our side: a posting whose entry has no lines still yields one row (no code, no amount).
    lines = f"""SELECT po.id AS posting_id, a.code AS code, jl.debit - jl.credit AS sent, NULL AS held
        FROM {t["Posting"]} po
        JOIN {t["LedgerConnection"]} lc ON lc.id = po.connection_id
        LEFT JOIN {t["JournalLine"]} jl ON jl.entry_id = po.entry_id
        LEFT JOIN {t["LedgerAccount"]} a ON a.id = jl.account_id
        WHERE {period}
        UNION ALL
        SELECT po.id, bl.account_code, NULL, bl.debit - bl.credit
        FROM {t["Posting"]} po
        JOIN {t["LedgerConnection"]} lc ON lc.id = po.connection_id
        JOIN {t["JournalEntry"]} je ON je.id = po.entry_id
        JOIN {t["BookEntry"]} be ON be.connection_id = po.connection_id AND be.reference = je.reference
        JOIN {t["BookLine"]} bl ON bl.entry_id = be.id
        WHERE {period}"""  # noqa: S608
    pairs = f"""SELECT posting_id, code, SUM(sent) AS sent, SUM(held) AS held
        FROM ({lines}) u GROUP BY posting_id, code"""  # noqa: S608
    if postings:
        sql = f"SELECT posting_id, code, sent, held FROM ({pairs}) x ORDER BY posting_id, code"  # noqa: S608
    else:
        sql = f"""SELECT posting_id FROM ({pairs}) x GROUP BY posting_id
            HAVING COUNT(sent) = 0 OR COUNT(held) = 0
                OR SUM(CASE WHEN COALESCE(sent, 0) <> COALESCE(held, 0) THEN 1 ELSE 0 END) > 0"""  # noqa: S608
    return sql, [*args, *args]


def _decimal(value: Any) -> Decimal | None:
    """An amount summed by the database as a Decimal (SQLite sums decimals as floats: rounded to
    the model's four places, as Django's own converter does)."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return _FLOATS.create_decimal_from_float(value).quantize(Decimal("0.0001"))
    return Decimal(value)


_FLOATS = DecimalContext(prec=15)
#: Documents whose accounts are read per statement (SQLite before 3.32 takes 999 parameters).
_ID_BATCH = 400


def _stream(sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows of a raw query, fetched ``CHUNK`` at a time."""
    with connection.cursor() as cur:
        cur.execute(sql, params)
        while rows := cur.fetchmany(CHUNK):
            yield from rows


def _differing_documents(
    start: date, end: date
) -> Iterator[tuple[dict[str, Any], dict[str, Decimal], dict[str, Decimal]]]:
    """(posting, sent per account, held per account) of each document the read-back flags: the
    ids in one set-based pass, then their accounts and details a batch at a time."""
    fields = ("pk", "entry__reference", "entry__currency", "entry__channel_id", "entry__transaction_id",
              "connection_id", "posting_date", "remote_number")  # fmt: skip
    sql, params = _readback_sql(start, end)
    ids = (row[0] for row in _stream(sql, params))
    while batch := list(islice(ids, _ID_BATCH)):
        info = {str(p["pk"]): p for p in Posting.objects.filter(pk__in=batch).values(*fields)}
        detail_sql, detail_params = _readback_sql(start, end, batch)
        with connection.cursor() as cur:
            cur.execute(detail_sql, detail_params)
            rows = cur.fetchall()  # one batch of documents
        for posting_id, accounts in groupby(rows, key=itemgetter(0)):
            sent: dict[str, Decimal] = {}
            held: dict[str, Decimal] = {}
            for _, code, ours, theirs in accounts:
                if ours is not None and code is not None:
                    sent[code] = _decimal(ours) or ZERO
                if theirs is not None:
                    held[code] = _decimal(theirs) or ZERO
            pk = Posting._meta.pk.to_python(posting_id)
            yield info[str(pk)], sent, (held if sent else {})


def _readback_findings(start: date, end: date) -> Iterator[Finding]:
    """The differences of the ledger read-back, as findings."""
    for posting, sent, held in _differing_documents(start, end):
        finding = _readback_finding(posting, sent, held)
        if finding is not None:
            yield finding


def _readback_finding(
    p: dict[str, Any], sent: dict[str, Decimal], held: dict[str, Decimal]
) -> Finding | None:
    """The finding of one document the read-back flagged: missing from the books, or amounts that
    differ per account once rounded to the currency (``None`` when they agree after rounding)."""
    pk, ref, cur = p["pk"], p["entry__reference"], p["entry__currency"]
    common: dict[str, Any] = {
        "day": p["posting_date"],
        "currency": cur,
        "channel_id": p["entry__channel_id"],
        "connection_id": p["connection_id"],
        "transaction_id": p["entry__transaction_id"],
        "posting_id": pk,
    }
    ours_total = sum((v for v in sent.values() if v > 0), ZERO)
    if not held:
        return Finding(
            key=f"{ExceptionKind.MISSING_IN_LEDGER}:posting:{pk}",
            kind=ExceptionKind.MISSING_IN_LEDGER,
            amount=money.quantize(ours_total, cur),
            expected=money.quantize(ours_total, cur),
            actual=ZERO,
            explanation=(
                f"Document {ref} was posted on {p['posting_date']} ({_fmt(ours_total, cur)} of "
                f"debits) but the built-in ledger does not hold it."
            ),
            **common,
        )
    diffs = [
        (code, sent.get(code, ZERO), held.get(code, ZERO))
        for code in sorted(set(sent) | set(held))
        if money.quantize(sent.get(code, ZERO), cur) != money.quantize(held.get(code, ZERO), cur)
    ]
    if not diffs:
        return None
    books_total = sum((v for v in held.values() if v > 0), ZERO)
    words = "; ".join(f"account {c}: sent {_fmt(a, cur)}, ledger holds {_fmt(b, cur)}" for c, a, b in diffs)
    return Finding(
        key=f"{ExceptionKind.AMOUNT_MISMATCH}:posting:{pk}",
        kind=ExceptionKind.AMOUNT_MISMATCH,
        amount=money.quantize(books_total - ours_total, cur),
        expected=money.quantize(ours_total, cur),
        actual=money.quantize(books_total, cur),
        explanation=f"The ledger's copy of {ref} ({p['remote_number']}) differs from what was posted: {words}.",
        **common,
    )


def _stranger_findings(start: date, end: date) -> Iterator[Finding]:
    """Documents of the built-in ledger that claim no journal entry of ours (hash anti-join)."""
    strangers = (
        BookEntry.objects.filter(connection__platform="builtin", date__range=(start, end))
        .exclude(
            Exists(
                JournalEntry.objects.filter(
                    connection=OuterRef("connection"), reference=OuterRef("reference")
                )
            )
        )
        .annotate(debits=Sum("lines__debit"))
        .values("pk", "number", "reference", "date", "currency", "memo", "connection_id", "debits")
    )
    for b in strangers.iterator(chunk_size=CHUNK):
        cur = b["currency"]
        yield Finding(
            key=f"{ExceptionKind.MISSING_IN_SOURCE}:book:{b['pk']}",
            kind=ExceptionKind.MISSING_IN_SOURCE,
            day=b["date"],
            currency=cur,
            amount=money.quantize(b["debits"] or ZERO, cur),
            connection_id=b["connection_id"],
            explanation=(
                f"The built-in ledger holds BK-{b['number']:06d} {b['reference']!r} of {b['date']} "
                f"({_fmt(b['debits'], cur)}) that no sales system sent through the integrator."
            ),
        )


def check_ledger_readback(start: date, end: date) -> CheckOutcome:
    """For built-in ledgers: each posted document is in the books with the amounts we sent, and the
    books hold nothing that claims to come from us without a journal entry.

    Set-based: one FULL OUTER JOIN of our journal and the books per document and account
    (:func:`_readback_sql`) returns only the documents that differ, and an anti-join finds the
    strangers; both are streamed, so memory follows the differences, not the documents checked.
    """
    postings = Posting.objects.filter(
        state=PostingState.POSTED, connection__platform="builtin", posting_date__range=(start, end)
    )
    return CheckOutcome(
        name="ledger read-back",
        scope=Q(day__range=(start, end))
        & (
            Q(kind=ExceptionKind.MISSING_IN_LEDGER)
            | Q(kind=ExceptionKind.MISSING_IN_SOURCE)
            | Q(kind=ExceptionKind.AMOUNT_MISMATCH, key__contains=":posting:")
        ),
        findings=chain(_readback_findings(start, end), _stranger_findings(start, end)),
        checked=postings.count(),
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
    from integrator.services.readback import readable_platforms

    return Posting.objects.filter(
        state=PostingState.POSTED,
        connection__platform__in=readable_platforms(),
        posting_date__range=(start, end),
    ).exclude(connection__platform="builtin")


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
                    f"for {_fmt(inv['total'], cur)} was due on {inv['due']}: {_fmt(inv['paid'], cur)} received, "
                    f"{_fmt(outstanding, cur)} outstanding."
                ),
            )
        )
