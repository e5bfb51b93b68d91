"""Stripe amounts: integers in the smallest unit *as Stripe defines it*, which is not always ISO's.

Stripe sends every amount as an integer in the currency's "smallest unit" and the currency in lower
case. For almost every currency Stripe's smallest unit is ISO 4217's minor unit, so
:func:`integrator.money.from_minor` converts it. Stripe documents a list of zero-decimal currencies
(BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF) and some special cases; where
Stripe and ISO disagree we follow Stripe for reading the integer and ISO for the result:

* **ISK** is zero-decimal in ISO, but Stripe keeps it a *two-decimal* currency in its API for
  backwards compatibility (``100`` means 1 kr; since April 2023 amounts must be multiples of 100).
  So ``50000`` is 500 kr. An old fractional-krona amount (``4010``) cannot be represented in ISO
  kronur and is refused rather than rounded.
* **MGA** is two-decimal in ISO 4217 but zero-decimal in Stripe: ``5000`` is 5000 ariary, returned
  as ``Decimal("5000.00")``.
* **UGX**, **XOF**, **XAF**, **RWF** ... are zero-decimal in both: ``15000`` is 15000 francs.
* **HUF** and **TWD** are two-decimal for charges in Stripe (only their *payouts* must be whole
  units, i.e. multiples of 100), like ISO: nothing special when reading.
* Three-decimal currencies (BHD JOD KWD OMR TND) are three-decimal in Stripe too (the last digit
  must be 0 on requests): nothing special when reading.
"""

from __future__ import annotations

from decimal import Decimal

from connectors.base import MalformedPayload
from integrator import money

__all__ = ["STRIPE_ZERO_DECIMAL", "stripe_amount", "stripe_currency", "stripe_exponent"]

#: Stripe's documented zero-decimal currencies (the amount is in whole units).
STRIPE_ZERO_DECIMAL = frozenset(
    (
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    )
)

# Currencies whose Stripe API exponent differs from ISO 4217 for a reason other than the list above.
_STRIPE_EXPONENT_OVERRIDES = {"ISK": 2}


def stripe_currency(code: object) -> str:
    """The ISO (upper-case) code of a Stripe currency; MalformedPayload if unknown or missing."""
    if not isinstance(code, str) or not code:
        raise MalformedPayload(f"missing or invalid currency {code!r}")
    try:
        return money.normalize_currency(code)
    except money.UnknownCurrency as exc:
        raise MalformedPayload(str(exc)) from exc


def stripe_exponent(currency: str) -> int:
    """How many decimals Stripe's integer amounts carry for ``currency``."""
    code = stripe_currency(currency)
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    return _STRIPE_EXPONENT_OVERRIDES.get(code, money.minor_units(code))


def stripe_amount(value: object, currency: str) -> Decimal:
    """Convert a Stripe integer amount to an exact Decimal quantised to the ISO minor unit.

    ``stripe_amount(1050, "gbp") == Decimal("10.50")``, ``stripe_amount(15000, "xof") ==
    Decimal("15000")``, ``stripe_amount(50000, "isk") == Decimal("500")``,
    ``stripe_amount(5000, "mga") == Decimal("5000.00")``. Raises :class:`MalformedPayload` for a
    non-integer (a float would already have lost a unit) or an amount ISO cannot represent exactly.
    """
    code = stripe_currency(currency)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedPayload(f"Stripe amount must be an integer, got {value!r}")
    exponent = stripe_exponent(code)
    if exponent == money.minor_units(code):
        return money.from_minor(value, code)
    try:
        return money.parse_amount(Decimal(value).scaleb(-exponent), code)
    except money.InvalidAmount as exc:
        raise MalformedPayload(
            f"Stripe amount {value} {code} is not a whole number of {code} minor units "
            f"(Stripe uses {exponent} decimals for {code}, ISO {money.minor_units(code)})"
        ) from exc
