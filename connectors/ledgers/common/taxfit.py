"""Fitting a ledger's own tax computation to our tax, without changing revenue per account.

Some ledgers compute tax themselves and take no tax amount on a line (Business Central; SAP
Business One in a foreign currency). When its rounding differs from the shop's by a few pence, the
ledger's tax is moved onto ours by shifting a little taxable base from a taxed line to an untaxed
line **on the same account**: revenue per account is unchanged, the tax per code becomes ours, and
the read-back proves it. Pure functions; the target reads the ledger's figures and applies the shift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from connectors.base import Permanent
from integrator import money

__all__ = ["TaxShift", "differences", "shift_for"]

ZERO = Decimal(0)


@dataclass(frozen=True)
class TaxShift:
    """Move ``base`` of taxable amount onto the lines of ``tax_code`` (negative: off them) and the
    opposite amount onto an untaxed line of the same account, so the code's tax grows by
    ``difference``."""

    tax_code: str
    difference: Decimal
    base: Decimal


def differences(ours: Mapping[str, Decimal], theirs: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Per tax code, our tax minus the ledger's (codes where they agree are left out)."""
    out = {}
    for code in set(ours) | set(theirs):
        diff = ours.get(code, ZERO) - theirs.get(code, ZERO)
        if diff:
            out[code] = diff
    return out


def shift_for(tax_code: str, difference: Decimal, rate: Decimal, currency: str, attempt: int = 0) -> TaxShift:
    """The base shift that moves the ledger's tax of ``tax_code`` by ``difference`` at ``rate``.

    ``attempt`` > 0 nudges the shift by that many minor units in the difference's direction, for a
    ledger whose rounding needs one more step (the target re-reads after each correction)."""
    if not rate:
        raise Permanent(
            f"tax code {tax_code} has no rate; the ledger's tax differs from ours by {difference}"
        )
    unit = money.quantum(currency)
    base = (difference / rate).quantize(unit, rounding=ROUND_HALF_UP)
    if attempt:
        base += unit * attempt * (1 if difference > 0 else -1)
    return TaxShift(tax_code, difference, base)
