"""The built-in ledger: the integrator's own books, for users with no external accounting system
and for the demo. It is a LedgerTarget like the others, reached through the same outbox, with the
same idempotency key and look-up by reference; it simply writes to local tables
(``integrator.models.books``) instead of calling a vendor.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, Q

from connectors.base import (
    ClosedPeriod,
    ConnectionCheck,
    ConnectorError,
    LedgerTarget,
    Permanent,
    PostingDocument,
    PostResult,
    RemoteAccount,
    RemoteItem,
    RemoteTaxCode,
)

__all__ = ["BuiltinLedger"]


class BuiltinLedger(LedgerTarget):
    """Our own double-entry books: each line in its currency and in the functional currency."""

    platform = "builtin"
    display_name = "Built-in ledger"
    capabilities = frozenset({"post", "lookup", "accounts", "tax_codes", "reports"})
    max_batch = 500
    #: Nothing to enter: the books live in the integrator's own database.
    setup_fields = ()

    def test_connection(self) -> ConnectionCheck:
        """No vendor to call: say what the books hold (accounts, tax codes, lock date)."""
        accounts, tax_codes = self.fetch_accounts(), self.fetch_tax_codes()
        lock = self.fetch_lock_date()
        closed = f"; books closed to {lock:%d %b %Y}" if lock else ""
        message = (
            f"The built-in ledger is ready: {len(accounts)} accounts, {len(tax_codes)} tax codes{closed}."
        )
        if not accounts:
            message = (
                "The built-in ledger has no accounts yet: import a chart of accounts (Mappings > Chart)."
            )
        return ConnectionCheck(
            bool(accounts), message, {"accounts": len(accounts), "tax_codes": len(tax_codes)}
        )

    def _result(self, entry: Any) -> PostResult:
        return PostResult(remote_id=str(entry.pk), remote_number=f"BK-{entry.number:06d}")

    def lookup(self, doc: PostingDocument) -> PostResult | None:
        """Find a document by our reference."""
        from integrator.models import BookEntry

        entry = BookEntry.objects.filter(
            connection_id=uuid.UUID(self.config.connection_id), reference=doc.reference
        ).first()
        return self._result(entry) if entry else None

    def post(self, doc: PostingDocument) -> PostResult:
        """Write the document; a repeated key or reference returns the first document (no duplicate)."""
        from integrator.models import BookEntry, LedgerAccount, LedgerConnection
        from integrator.services.bulk import insert_all

        conn = LedgerConnection.objects.get(pk=self.config.connection_id)
        known = set(LedgerAccount.objects.filter(connection=conn, active=True).values_list("code", flat=True))
        self._check(doc, conn, known)
        existing = None
        for found in BookEntry.objects.filter(connection=conn).filter(
            Q(idempotency_key=doc.idempotency_key) | Q(reference=doc.reference)
        ):
            if existing is None or found.idempotency_key == doc.idempotency_key:
                existing = found  # the key's document first, else the reference's
        if existing is not None:
            return self._result(existing)
        try:
            with transaction.atomic():
                LedgerConnection.objects.select_for_update().filter(pk=conn.pk).first()
                number = (BookEntry.objects.filter(connection=conn).aggregate(n=Max("number"))["n"] or 0) + 1
                entry = self._entry(conn, doc, number)
                entry.save(force_insert=True)
                insert_all(self._lines(entry, doc))
        except IntegrityError:
            # A concurrent post of the same document won the race: answer with its result.
            found_now = self.lookup(doc)
            if found_now is None:
                raise
            return found_now
        return self._result(entry)

    def post_batch(self, docs: list[PostingDocument]) -> list[PostResult | ConnectorError]:
        """Write several documents in one transaction, with per-document results in order.

        The same checks and the same answers as :meth:`post` one by one (a repeated key or
        reference returns the first document; an unbalanced document or an unknown account is
        refused on its own), with the reads shared: the connection and its chart once, the
        documents already written in one query, and the numbers allocated once for the batch
        (``MAX(number)`` under the connection's row lock, which every writer of these books takes).
        A batch that meets a concurrent writer of one of its documents (a unique key) is rolled
        back and written one document at a time, as :meth:`post` resolves such races."""
        from integrator.models import BookEntry, LedgerAccount, LedgerConnection
        from integrator.services.bulk import insert_all

        conn = LedgerConnection.objects.get(pk=self.config.connection_id)
        known = set(LedgerAccount.objects.filter(connection=conn, active=True).values_list("code", flat=True))
        results: list[PostResult | ConnectorError | None] = [None] * len(docs)
        todo: list[tuple[int, PostingDocument]] = []
        for i, doc in enumerate(docs):
            try:
                self._check(doc, conn, known)
            except ConnectorError as exc:
                results[i] = exc
                continue
            todo.append((i, doc))
        if todo:
            keys = [doc.idempotency_key for _, doc in todo]
            references = [doc.reference for _, doc in todo]
            by_key: dict[str, Any] = {}
            by_reference: dict[str, Any] = {}
            for entry in BookEntry.objects.filter(connection=conn).filter(
                Q(idempotency_key__in=keys) | Q(reference__in=references)
            ):
                by_key.setdefault(entry.idempotency_key, entry)
                by_reference.setdefault(entry.reference, entry)
            new: list[tuple[int, PostingDocument]] = []
            for i, doc in todo:
                found = by_key.get(doc.idempotency_key) or by_reference.get(doc.reference)
                if found is not None:
                    results[i] = self._result(found)
                else:
                    new.append((i, doc))
            if new:
                try:
                    with transaction.atomic():
                        LedgerConnection.objects.select_for_update().filter(pk=conn.pk).first()
                        last = BookEntry.objects.filter(connection=conn).aggregate(n=Max("number"))["n"] or 0
                        entries = [
                            self._entry(conn, doc, last + n) for n, (_, doc) in enumerate(new, start=1)
                        ]
                        insert_all(entries)
                        insert_all([
                            line for entry, (_, doc) in zip(entries, new, strict=True)
                            for line in self._lines(entry, doc)
                        ])  # fmt: skip
                except IntegrityError:
                    for i, doc in new:
                        try:
                            results[i] = self.post(doc)
                        except ConnectorError as exc:
                            results[i] = exc
                else:
                    for entry, (i, _) in zip(entries, new, strict=True):
                        results[i] = self._result(entry)
        return [r for r in results if r is not None]

    def _check(self, doc: PostingDocument, conn: Any, known: set[str]) -> None:
        """Refuse what the books cannot take: unbalanced, in a closed period, unknown accounts."""
        functional = [ln.functional() for ln in doc.lines]
        if sum((d for d, _ in functional), Decimal(0)) != sum((c for _, c in functional), Decimal(0)):
            raise Permanent(f"{doc.reference} does not balance in the functional currency")
        single = len({ln.currency or doc.currency for ln in doc.lines}) == 1
        if single and doc.total_debit() != doc.total_credit():
            raise Permanent(f"{doc.reference} does not balance: {doc.total_debit()} <> {doc.total_credit()}")
        lock_date = conn.lock_date
        if lock_date is not None and doc.date <= lock_date:
            raise ClosedPeriod(f"the books are closed up to {lock_date}", vendor_code="closed_period")
        unknown = sorted({ln.account_code for ln in doc.lines} - known)
        if unknown:
            raise Permanent(
                f"unknown or inactive account(s): {', '.join(unknown)}", vendor_code="unknown_account"
            )

    @staticmethod
    def _entry(conn: Any, doc: PostingDocument, number: int) -> Any:
        """The book entry of a document (unsaved)."""
        from integrator.models import BookEntry

        return BookEntry(
            connection=conn,
            number=number,
            reference=doc.reference,
            idempotency_key=doc.idempotency_key,
            kind=doc.kind,
            date=doc.date,
            currency=doc.currency,
            functional_currency=conn.functional_currency,
            exchange_rate=doc.exchange_rate,
            memo=doc.memo,
        )

    @staticmethod
    def _lines(entry: Any, doc: PostingDocument) -> list[Any]:
        """The book lines of a document (unsaved)."""
        from integrator.models import BookLine

        return [
            BookLine(
                entry=entry,
                account_code=ln.account_code,
                description=ln.description[:255],
                debit=ln.debit,
                credit=ln.credit,
                currency=ln.currency or doc.currency,
                functional_debit=ln.functional()[0],
                functional_credit=ln.functional()[1],
                tax_code=ln.tax_code,
            )
            for ln in doc.lines
        ]

    def fetch_accounts(self) -> list[RemoteAccount]:
        """The chart of accounts kept locally."""
        from integrator.models import LedgerAccount

        return [
            RemoteAccount(code=a.code, name=a.name, type=a.type, remote_id=str(a.pk), active=a.active)
            for a in LedgerAccount.objects.filter(connection_id=uuid.UUID(self.config.connection_id))
        ]

    def fetch_tax_codes(self) -> list[RemoteTaxCode]:
        """The tax codes kept locally."""
        from integrator.models import TaxCode

        return [
            RemoteTaxCode(code=t.code, name=t.name, rate=t.rate, remote_id=str(t.pk), active=t.active)
            for t in TaxCode.objects.filter(connection_id=uuid.UUID(self.config.connection_id))
        ]

    def fetch_items(self) -> list[RemoteItem]:
        """Products double as items in the built-in ledger."""
        from integrator.models import Product

        return [RemoteItem(code=p.sku, name=p.name, remote_id=str(p.pk)) for p in Product.objects.all()]

    def fetch_lock_date(self) -> date | None:
        """The built-in ledger's lock date is the connection's own."""
        from integrator.models import LedgerConnection

        return LedgerConnection.objects.values_list("lock_date", flat=True).get(pk=self.config.connection_id)
