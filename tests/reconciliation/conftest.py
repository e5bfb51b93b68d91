"""Fixtures of the reconciliation tests: a GBP bank account on the test books, statement files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from integrator.models import LedgerAccount, LedgerConnection
from reconciliation.models import BankAccount
from reconciliation.services.statements import create_bank_account

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bank"
IBAN = "GB29NWBK60161331926819"


def bank_file(name: str) -> bytes:
    """The bytes of a statement fixture."""
    return (FIXTURES / name).read_bytes()


def payout_event(
    payout_id: str = "po-1",
    *,
    amount: str = "139.44",
    occurred_at: str = "2026-11-22T06:00:00+00:00",
    arrival_date: str | None = "2026-11-23",
    status: str = "paid",
) -> dict[str, Any]:
    """A generic ``payout.paid`` event (no items: the whole amount leaves clearing for the bank)."""
    data: dict[str, Any] = {
        "id": payout_id,
        "occurred_at": occurred_at,
        "currency": "GBP",
        "amount": amount,
        "status": status,
    }
    if arrival_date:
        data["arrival_date"] = arrival_date
    return {"id": f"evt-{payout_id}", "type": "payout.paid", "created_at": occurred_at, "data": data}


@pytest.fixture
def bank_account(ledger: LedgerConnection) -> BankAccount:
    """The shop's GBP current account, mirrored by ledger account 1000."""
    return create_bank_account(
        name="NatWest current",
        connection=ledger,
        ledger_account=LedgerAccount.objects.get(connection=ledger, code="1000"),
        currency="GBP",
        account_number="GB29 NWBK 6016 1331 9268 19",
    )
