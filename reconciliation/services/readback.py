"""The ledger read-back of the built-in ledger, which we can read back: every posted document is in
the books with the amounts we sent, per account, and nothing in the books claims to come from us
without a journal entry.

Set-based: one statement compares our journal and the books per document and account (what a
person would write as a FULL OUTER JOIN, see :func:`_readback_sql`) and returns only the documents
that differ; an anti-join finds the strangers. On PostgreSQL one pass finds both
(:func:`_differing_postgresql`). Only the differences come back, so memory follows them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from itertools import chain, groupby, islice
from operator import itemgetter
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, Sum

from integrator import money
from integrator.choices import PostingState
from integrator.models import (
    BookEntry,
    BookLine,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    LedgerConnection,
    Posting,
)
from reconciliation.choices import ExceptionKind
from reconciliation.services.checks import CHUNK, ZERO, db_decimal, fmt_amount, found_first, temp_table
from reconciliation.services.findings import CheckOutcome, Finding

__all__ = ["check_ledger_readback"]


def _readback_sql(start: date, end: date, postings: list[Any] | None = None) -> tuple[str, list[Any]]:
    """The ledger read-back as one statement: per posted document and account, what we sent (our
    journal) beside what the built-in ledger holds (its book lines under the same reference).

    This is a FULL OUTER JOIN of the two sides per (document, account) - an account on one side
    only is a difference too - written as the union of both sides' lines grouped once: a side
    with no line for the account sums to NULL. Unlike a join of two grouped subqueries it needs no
    index on an intermediate result (SQLite, which has no hash join, would otherwise compare every
    pair of rows, and before 3.39 has no FULL OUTER JOIN at all). On PostgreSQL the ids (without
    ``postings``) come from :func:`_differing_postgresql` instead, the two sides grouped apart
    and hash-joined, which is faster there.

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
    # Our side: an entry without lines moves nothing and is not compared.
    ours = (
        f"FROM {t['Posting']} po\n"
        f"        JOIN {t['LedgerConnection']} lc ON lc.id = po.connection_id\n"
        f"        JOIN {t['JournalLine']} jl ON jl.entry_id = po.entry_id\n"
        f"        JOIN {t['LedgerAccount']} a ON a.id = jl.account_id\n"
        f"        WHERE {period}"
    )
    # The books' side: the ledger's lines under each posted document's reference.
    books = (
        f"FROM {t['Posting']} po\n"
        f"        JOIN {t['LedgerConnection']} lc ON lc.id = po.connection_id\n"
        f"        JOIN {t['JournalEntry']} je ON je.id = po.entry_id\n"
        f"        JOIN {t['BookEntry']} be ON be.connection_id = po.connection_id AND be.reference = je.reference\n"
        f"        JOIN {t['BookLine']} bl ON bl.entry_id = be.id\n"
        f"        WHERE {period}"
    )
    lines = (
        f"SELECT po.id AS posting_id, a.code AS code, jl.debit - jl.credit AS sent, NULL AS held\n"
        f"        {ours}\n"
        f"        UNION ALL\n"
        f"        SELECT po.id, bl.account_code, NULL, bl.debit - bl.credit\n"
        f"        {books}"
    )
    pairs = (
        f"SELECT posting_id, code, SUM(sent) AS sent, SUM(held) AS held\n"  # noqa: S608 - table names come from the models; every value is a bound parameter
        f"        FROM ({lines}) u GROUP BY posting_id, code"
    )
    if postings:
        sql = f"SELECT posting_id, code, sent, held FROM ({pairs}) x ORDER BY posting_id, code"  # noqa: S608 - names from the models; values are parameters
    else:
        sql = (
            f"SELECT posting_id FROM ({pairs}) x GROUP BY posting_id\n"  # noqa: S608 - table names come from the models; every value is a bound parameter
            f"            HAVING COUNT(sent) = 0 OR COUNT(held) = 0\n"
            f"                OR SUM(CASE WHEN COALESCE(sent, 0) <> COALESCE(held, 0) THEN 1 ELSE 0 END) > 0"
        )
    return sql, [*args, *args]


def _differing_postgresql(start: date, end: date) -> tuple[str, list[Any]]:
    """The documents that differ, on PostgreSQL, in one pass written as the hand-written query:
    our journal of the period's posted documents grouped per (connection, reference, account),
    the built-in ledger's lines of the period grouped the same way, the two hash FULL OUTER JOINed.

    It returns ``(posting id, connection, reference, claimed)`` per (connection, reference) with a
    difference: an account on one side only, an amount that differs (an entry without lines
    moves nothing and is not compared, as in the portable form).
    ``posting id`` is the period's posted document of that reference (``NULL`` if there is none);
    ``claimed`` says whether a journal entry of ours has that reference at all. So one statement
    gives both what :func:`_readback_findings` details and the strangers (a book entry of the
    period that no journal entry claims), which were an anti-join over the books of their own.

    The books' side is the ledger's lines dated in the period, as the ledger keeps them: the
    built-in ledger dates a document with its posting's date, so the two sides cover the same
    documents. A posted document whose copy in the books carries another date comes out as
    differing; the per-batch detail query (:func:`_readback_sql` with ``postings``, which finds
    the books by reference whatever their date) then decides, exactly as before. A book entry
    of the period whose journal entry is not posted in the period is claimed: it is left alone,
    as before. Grouping the union of both sides once (the portable form) made PostgreSQL sort 4.8
    million partial groups on disk; two aggregates and a hash join do the same work without it.
    """
    t = {m.__name__: m._meta.db_table for m in (Posting, LedgerConnection, JournalEntry, JournalLine,
                                                 LedgerAccount, BookEntry, BookLine)}  # fmt: skip
    builtin = f"SELECT id FROM {t['LedgerConnection']} WHERE platform = %s"  # noqa: S608 - a table name from the models
    posted = f"po.state = %s AND po.connection_id IN ({builtin}) AND po.posting_date BETWEEN %s AND %s"
    sent = (
        f"SELECT je.connection_id AS conn, je.reference AS ref, a.code AS code, SUM(jl.debit - jl.credit) AS net\n"  # noqa: S608 - table names come from the models; every value is a bound parameter
        f"    FROM {t['Posting']} po\n"
        f"    JOIN {t['JournalEntry']} je ON je.id = po.entry_id\n"
        f"    JOIN {t['JournalLine']} jl ON jl.entry_id = je.id\n"
        f"    JOIN {t['LedgerAccount']} a ON a.id = jl.account_id\n"
        f"    WHERE {posted}\n"
        f"    GROUP BY je.connection_id, je.reference, a.code"
    )
    held = (
        f"SELECT be.connection_id AS conn, be.reference AS ref, bl.account_code AS code,\n"  # noqa: S608 - table names come from the models; every value is a bound parameter
        f"           SUM(bl.debit - bl.credit) AS net\n"
        f"    FROM {t['BookLine']} bl JOIN {t['BookEntry']} be ON be.id = bl.entry_id\n"
        f"    WHERE be.connection_id IN ({builtin}) AND be.date BETWEEN %s AND %s\n"
        f"    GROUP BY be.connection_id, be.reference, bl.account_code"
    )
    differing = (
        f"SELECT DISTINCT COALESCE(s.conn, h.conn) AS conn, COALESCE(s.ref, h.ref) AS ref\n"  # noqa: S608 - the two subqueries above
        f"    FROM ({sent}) s FULL OUTER JOIN ({held}) h ON h.conn = s.conn AND h.ref = s.ref AND h.code = s.code\n"
        f"    WHERE s.conn IS NULL OR h.conn IS NULL OR s.net <> h.net"
    )
    period = [PostingState.POSTED, "builtin", start, end]
    args = [*period, "builtin", start, end]
    if connection.in_atomic_block:  # the run's step: the few documents found, stored first
        found, params = temp_table(differing, args, columns="conn, ref"), period
    else:
        found, params = f"({differing})", [*args, *period]
    sql = (
        f"SELECT po.id, d.conn, d.ref, je.id IS NOT NULL FROM {found} d\n"  # noqa: S608 - table names come from the models and ours; every value is a bound parameter
        f"    LEFT JOIN {t['JournalEntry']} je ON je.connection_id = d.conn AND je.reference = d.ref\n"
        f"    LEFT JOIN {t['Posting']} po ON po.entry_id = je.id AND {posted}"
    )
    return sql, params


#: Documents whose accounts are read per statement (SQLite before 3.32 takes 999 parameters).
_ID_BATCH = 400
#: On PostgreSQL (65,535 parameters): each batch's statement costs a plan and, for its joins, the
#: start of parallel workers (84 ms for 400 documents), so larger batches; but a batch's rows are
#: held in memory (4,000 documents: a Python peak of 14 MB against 2 MB at 400).
_PG_ID_BATCH = 1000


def _stream(sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows of a raw query, fetched ``CHUNK`` at a time."""
    with connection.cursor() as cur:
        cur.execute(sql, params)
        while rows := cur.fetchmany(CHUNK):
            yield from rows


def _documents(
    start: date, end: date, ids: Iterator[Any]
) -> Iterator[tuple[dict[str, Any], dict[str, Decimal], dict[str, Decimal]]]:
    """(posting, sent per account, held per account) of each posted document in ``ids`` (the
    documents a pass flagged), their accounts and details read a batch at a time."""
    fields = ("pk", "entry__reference", "entry__currency", "entry__channel_id", "entry__transaction_id",
              "connection_id", "posting_date", "remote_number")  # fmt: skip
    size = _PG_ID_BATCH if connection.vendor == "postgresql" else _ID_BATCH
    while batch := list(islice(ids, size)):
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
                    sent[code] = db_decimal(ours) or ZERO
                if theirs is not None:
                    held[code] = db_decimal(theirs) or ZERO
            pk = Posting._meta.pk.to_python(posting_id)
            yield info[str(pk)], sent, (held if sent else {})


def _flagged(start: date, end: date) -> Iterator[Any]:
    """The ids of the posted documents the portable pass of :func:`_readback_sql` flags."""
    sql, params = _readback_sql(start, end)
    return (row[0] for row in _stream(sql, params))


def _readback_findings(start: date, end: date, ids: Iterator[Any]) -> Iterator[Finding]:
    """The differences of the ledger read-back among the posted documents ``ids``, as findings."""
    for posting, sent, held in _documents(start, end, ids):
        finding = _readback_finding(posting, sent, held)
        if finding is not None:
            yield finding


def _findings_postgresql(start: date, end: date) -> Iterator[Finding]:
    """The read-back's findings on PostgreSQL from the one pass of :func:`_differing_postgresql`:
    the flagged posted documents detailed a batch at a time, and the strangers (a reference no
    journal entry of ours claims) read a batch at a time."""
    sql, params = _differing_postgresql(start, end)
    unclaimed: list[tuple[Any, str]] = []
    postings: list[Any] = []
    for posting_id, conn, ref, claimed in _stream(sql, params):
        if posting_id is not None:
            postings.append(posting_id)
        elif not claimed:
            unclaimed.append((conn, ref))
        if len(postings) >= _PG_ID_BATCH:
            yield from _readback_findings(start, end, iter(postings))
            postings = []
        if len(unclaimed) >= _PG_ID_BATCH:
            yield from _strangers(unclaimed)
            unclaimed = []
    yield from _readback_findings(start, end, iter(postings))
    yield from _strangers(unclaimed)


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
                f"Document {ref} was posted on {p['posting_date']} ({fmt_amount(ours_total, cur)} of "
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
    words = "; ".join(
        f"account {c}: sent {fmt_amount(a, cur)}, ledger holds {fmt_amount(b, cur)}" for c, a, b in diffs
    )
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
    """Documents of the built-in ledger that claim no journal entry of ours (hash anti-join; the
    portable form: on PostgreSQL :func:`_findings_postgresql` finds them in its one pass). An
    entry without lines moves nothing and is not compared, on either database."""
    unclaimed = BookEntry.objects.filter(connection__platform="builtin", date__range=(start, end)).exclude(
        Exists(
            JournalEntry.objects.filter(connection=OuterRef("connection"), reference=OuterRef("reference"))
        )
    )
    strangers = (
        found_first(unclaimed)
        .annotate(debits=Sum("lines__debit"))
        .filter(debits__isnull=False)
        .values(*_BOOK_FIELDS, "debits")
    )
    return map(_stranger_finding, strangers.iterator(chunk_size=CHUNK))


#: The columns of a book entry a stranger's finding names.
_BOOK_FIELDS = ("pk", "number", "reference", "date", "currency", "memo", "connection_id")


def _strangers(pairs: list[tuple[Any, str]]) -> Iterator[Finding]:
    """The findings of the book entries ``pairs`` (connection, reference) that no journal entry
    claims (found by :func:`_findings_postgresql`), read by the unique (connection, reference)."""
    if not pairs:
        return iter(())
    wanted = {(str(conn), ref) for conn, ref in pairs}
    books = (
        BookEntry.objects.filter(reference__in={ref for _, ref in pairs})
        .annotate(debits=Sum("lines__debit"))
        .values(*_BOOK_FIELDS, "debits")
    )
    return (_stranger_finding(b) for b in books if (str(b["connection_id"]), b["reference"]) in wanted)


def _stranger_finding(b: dict[str, Any]) -> Finding:
    """The finding of one book entry of the built-in ledger that no journal entry of ours claims."""
    cur = b["currency"]
    return Finding(
        key=f"{ExceptionKind.MISSING_IN_SOURCE}:book:{b['pk']}",
        kind=ExceptionKind.MISSING_IN_SOURCE,
        day=b["date"],
        currency=cur,
        amount=money.quantize(b["debits"] or ZERO, cur),
        connection_id=b["connection_id"],
        explanation=(
            f"The built-in ledger holds BK-{b['number']:06d} {b['reference']!r} of {b['date']} "
            f"({fmt_amount(b['debits'], cur)}) that no sales system sent through the integrator."
        ),
    )


def check_ledger_readback(start: date, end: date) -> CheckOutcome:
    """For built-in ledgers: each posted document is in the books with the amounts we sent, and the
    books hold nothing that claims to come from us without a journal entry.

    Set-based: one FULL OUTER JOIN of our journal and the books per document and account returns
    only the documents that differ (:func:`_readback_sql`; on PostgreSQL
    :func:`_differing_postgresql`, which finds the strangers in the same pass, where elsewhere an
    anti-join does); only the differences come back, so memory follows them, not the documents.
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
        findings=(
            _findings_postgresql(start, end)
            if connection.vendor == "postgresql"
            else chain(_readback_findings(start, end, _flagged(start, end)), _stranger_findings(start, end))
        ),
        checked=postings.count(),
    )
