"""The journal entries of stock that no sale makes: receiving a shipment, a late cost, a count or
write-off. Each is a manual entry under the inventory book's channel, posted through the outbox
like every other entry (one posting, one idempotency key)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from integrator.choices import EntryKind
from integrator.models import InventoryBook, JournalEntry
from integrator.services.journal import create_entry
from integrator.services.posting import create_posting

__all__ = ["Leg", "post_stock_entry"]

ZERO = Decimal(0)

#: One line: (account id, signed amount in ``currency`` (debit positive), currency, functional
#: amount, role, description).
Leg = tuple[Any, Decimal, str, Decimal, str, str]


def post_stock_entry(
    book: InventoryBook, *, reference: str, on: date, memo: str, legs: list[Leg], number: str = ""
) -> JournalEntry | None:
    """Journal and post the legs (same account, currency and role added together; zero legs left
    out). Returns the existing entry when ``reference`` was journaled before (idempotent)."""
    existing = JournalEntry.objects.filter(connection=book.connection, reference=reference[:120]).first()
    if existing is not None:
        return existing
    functional = book.connection.functional_currency
    sums: dict[tuple[Any, str, str, str], list[Decimal]] = {}
    for account_id, amount, currency, functional_amount, role, description in legs:
        key = (account_id, currency or functional, role, description)
        acc = sums.setdefault(key, [ZERO, ZERO])
        acc[0] += amount
        acc[1] += functional_amount
    specs = []
    for (account_id, currency, role, description), (amount, functional_amount) in sums.items():
        if amount == 0 and functional_amount == 0:
            continue
        if amount == 0:
            amount, currency = functional_amount, functional
        specs.append({
            "amount": amount, "currency": currency, "functional": functional_amount,
            "rate": abs(functional_amount / amount) if amount else None, "account_id": account_id,
            "role": role, "description": description[:255],
        })  # fmt: skip
    if not specs:
        return None
    entry = create_entry(
        line_specs=specs,
        reference=reference,
        date=on,
        currency=functional,
        memo=memo,
        channel_id=book.channel_id,
        connection_id=book.connection_id,
        kind=EntryKind.MANUAL,
        number=number or reference.upper().replace("/", "-")[:40],
        functional_currency=functional,
    )
    create_posting(entry)
    return entry
