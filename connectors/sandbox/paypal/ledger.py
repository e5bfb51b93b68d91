"""The sandbox's PayPal balance: every money movement as a Transaction Search record.

PayPal's Transaction Search reports each balance-affecting event with a T-code, the gross
(``transaction_amount``, negative for debits), the fee (``fee_amount``, negative when charged,
positive when given back), a reference to the transaction it relates to (``paypal_reference_id``)
and the balance after it (``ending_balance``). :class:`BalanceBook` keeps those records in the
order they happened and the running balance per currency, so a transfer to the bank takes exactly
what the balance holds, and a capture received in a currency the account does not hold is converted
(a ``T0200`` debit in the capture's currency and a ``T0200`` credit in the account's), as PayPal
does for an account that converts incoming payments.
"""

from __future__ import annotations

import random
import string
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from integrator import money

__all__ = ["BalanceBook", "Record", "iso"]


def iso(value: datetime) -> str:
    """Transaction Search's time format as its OpenAPI file defines it (``2026-11-20T10:15:30Z``;
    the live API has also been seen writing ``+0000``, which the source reads as well)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"currency_code": currency, "value": str(money.quantize(amount, currency))}


@dataclass
class Record:
    """One reported transaction."""

    transaction_id: str
    code: str
    at: datetime
    currency: str
    amount: Decimal
    fee: Decimal | None = None  # as PayPal reports it: negative when charged
    status: str = "S"
    reference_id: str = ""
    invoice_id: str = ""
    custom_field: str = ""
    ending_balance: Decimal = Decimal(0)
    extra: dict[str, Any] = field(default_factory=dict)

    def detail(self) -> dict[str, Any]:
        """The ``transaction_detail`` Transaction Search returns for it."""
        info: dict[str, Any] = {
            "paypal_account_id": "SANDBOXBUYER01",
            "transaction_id": self.transaction_id,
            "transaction_event_code": self.code,
            "transaction_initiation_date": iso(self.at),
            "transaction_updated_date": iso(self.at),
            "transaction_amount": _money(self.amount, self.currency),
            "transaction_status": self.status,
            "ending_balance": _money(self.ending_balance, self.currency),
            "available_balance": _money(self.ending_balance, self.currency),
            "protection_eligibility": "01",
        }
        if self.fee is not None:
            info["fee_amount"] = _money(self.fee, self.currency)
        if self.reference_id:
            info["paypal_reference_id"] = self.reference_id
            info["paypal_reference_id_type"] = "TXN"
        if self.invoice_id:
            info["invoice_id"] = self.invoice_id
        if self.custom_field:
            info["custom_field"] = self.custom_field
        info.update(self.extra)
        return {"transaction_info": info}


class BalanceBook:
    """Reported transactions and running balances of one sandbox account."""

    def __init__(
        self, primary_currency: str = "GBP", held_currencies: tuple[str, ...] = (), seed: int = 0
    ) -> None:
        self.primary = primary_currency
        self.held = {primary_currency, *held_currencies}
        self.records: list[Record] = []
        self.balances: dict[str, Decimal] = {}
        self._ids = random.Random(seed)
        self._lock = threading.Lock()

    def new_id(self) -> str:
        """A 17-character PayPal transaction id."""
        alphabet = string.ascii_uppercase + string.digits
        return "".join(self._ids.choice(alphabet) for _ in range(17))

    def add(self, record: Record) -> Record:
        """Book a record: the balance moves by its net (gross plus the signed fee)."""
        with self._lock:
            net = record.amount + (record.fee or Decimal(0))
            balance = self.balances.get(record.currency, money.zero(record.currency)) + net
            self.balances[record.currency] = balance
            record.ending_balance = balance
            self.records.append(record)
        return record

    def receive(
        self,
        transaction_id: str,
        at: datetime,
        currency: str,
        gross: Decimal,
        fee: Decimal,
        *,
        code: str = "T0006",
        invoice_id: str = "",
        custom_field: str = "",
        receivable: tuple[str, Decimal] | None = None,
    ) -> list[Record]:
        """A payment received; converted to the receivable currency when it is one the account
        does not hold (``receivable`` = (currency, amount credited))."""
        made = [self.add(Record(transaction_id, code, at, currency, gross, -fee if fee else None,
                                invoice_id=invoice_id, custom_field=custom_field))]  # fmt: skip
        if receivable is not None and receivable[0] != currency:
            made += self._convert(transaction_id, at, currency, gross - fee, receivable)
        return made

    def refund(
        self,
        refund_id: str,
        capture_id: str,
        at: datetime,
        currency: str,
        gross: Decimal,
        fee_back: Decimal,
        *,
        payable: tuple[str, Decimal] | None = None,
        code: str = "T1107",
    ) -> list[Record]:
        """A refund (or, with ``code="T1106"``, a reversal) of a capture; a refund of a converted
        capture is paid from the receiving currency through a conversion."""
        made = [self.add(Record(refund_id, code, at, currency, -gross, fee_back if fee_back else None,
                                reference_id=capture_id))]  # fmt: skip
        if payable is not None and payable[0] != currency:
            made += self._convert(refund_id, at, currency, -(gross - fee_back), (payable[0], -payable[1]))
        return made

    def _convert(
        self, reference: str, at: datetime, currency: str, amount: Decimal, into: tuple[str, Decimal]
    ) -> list[Record]:
        """The two legs of a currency conversion, both naming the converted transaction."""
        return [
            self.add(Record(self.new_id(), "T0200", at, currency, -amount, reference_id=reference)),
            self.add(Record(self.new_id(), "T0200", at, into[0], into[1], reference_id=reference)),
        ]

    def fee(
        self, at: datetime, currency: str, amount: Decimal, code: str = "T0106", reference: str = ""
    ) -> Record:
        """A fee debited on its own (a chargeback fee, a monthly fee)."""
        return self.add(Record(self.new_id(), code, at, currency, -amount, reference_id=reference))

    def transfer(
        self, at: datetime, currency: str, amount: Decimal | None = None, status: str = "S"
    ) -> Record:
        """A withdrawal to the bank (``T0400``): by default the whole balance of the currency."""
        with self._lock:
            balance = self.balances.get(currency, money.zero(currency))
        take = balance if amount is None else amount
        return self.add(Record(self.new_id(), "T0400", at, currency, -take, status=status))
