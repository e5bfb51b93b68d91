"""Money: Decimal only, ISO-4217 minor units, explicit rounding.

Every amount in the integrator is a :class:`decimal.Decimal` quantised to its currency's minor unit
(0 decimals for XOF, XAF, UGX, RWF; 2 for GHS, NGN, KES, ZAR; 3 for TND, LYD, ...). Floats are
refused outright: a float has already lost the cent before we see it.

Vendors send money in two shapes: integers in minor units (Stripe, Square, Clover) and decimal
strings (Shopify, WooCommerce, PayPal). :func:`from_minor` and :func:`parse_amount` turn both into
exact Decimals; :func:`parse_amount` refuses a value with more decimals than the currency allows
instead of silently rounding it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "ROUND_HALF_EVEN",
    "ROUND_HALF_UP",
    "InvalidAmount",
    "UnknownCurrency",
    "allocate",
    "from_minor",
    "is_known_currency",
    "minor_units",
    "normalize_currency",
    "parse_amount",
    "quantize",
    "quantum",
    "to_minor",
    "zero",
]

# Currencies whose minor unit is not 2 (ISO 4217, list of 2024). Every other listed code has 2.
_EXPONENTS: dict[str, int] = {
    # 0 decimals
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # 3 decimals
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # 4 decimals
    "CLF": 4, "UYW": 4,
}  # fmt: skip

# Active ISO 4217 codes with two decimals.
_TWO_DECIMAL = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BMD",
        "BND",
        "BOB",
        "BOV",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHE",
        "CHF",
        "CHW",
        "CNY",
        "COP",
        "COU",
        "CRC",
        "CUC",
        "CUP",
        "CVE",
        "CZK",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IRR",
        "JMD",
        "KES",
        "KGS",
        "KHR",
        "KPW",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MXV",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SLL",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "USD",
        "USN",
        "UYU",
        "UZS",
        "VES",
        "VED",
        "WST",
        "XCD",
        "XCG",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
        "ZWL",
    ]
)


class UnknownCurrency(ValueError):
    """Raised for a currency code that is not an active ISO-4217 code."""


class InvalidAmount(ValueError):
    """Raised for an amount that is not exact in its currency (float, NaN, too many decimals)."""


def normalize_currency(code: str) -> str:
    """Return the upper-case ISO code, or raise :class:`UnknownCurrency`.

    Stripe sends lower-case codes (``"usd"``); everyone else upper case.
    """
    if not isinstance(code, str):
        raise UnknownCurrency(f"currency must be a string, got {type(code).__name__}")
    upper = code.strip().upper()
    if upper not in _EXPONENTS and upper not in _TWO_DECIMAL:
        raise UnknownCurrency(f"unknown currency {code!r}")
    return upper


def is_known_currency(code: str) -> bool:
    """True when ``code`` is an active ISO-4217 currency code (case-insensitive)."""
    try:
        normalize_currency(code)
    except UnknownCurrency:
        return False
    return True


def minor_units(currency: str) -> int:
    """Number of decimals of the currency's minor unit (0 for XOF, 2 for GHS, 3 for TND)."""
    code = normalize_currency(currency)
    return _EXPONENTS.get(code, 2)


def quantum(currency: str) -> Decimal:
    """The smallest amount of the currency as a Decimal exponent: ``Decimal("0.01")`` for GHS."""
    return Decimal(1).scaleb(-minor_units(currency))


def zero(currency: str) -> Decimal:
    """Zero with the currency's exponent (``Decimal("0.00")`` for GBP, ``Decimal("0")`` for XOF)."""
    return Decimal(0).quantize(quantum(currency))


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, bool | float):
        raise InvalidAmount(f"refusing {type(value).__name__} {value!r}: money is never a float")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation as exc:
            raise InvalidAmount(f"not a number: {value!r}") from exc
    else:
        raise InvalidAmount(f"not an amount: {value!r}")
    if not result.is_finite():
        raise InvalidAmount(f"not a finite amount: {value!r}")
    if abs(result) >= Decimal("1e15"):
        raise InvalidAmount(f"amount out of range: {value!r}")
    return result


def quantize(value: object, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round ``value`` to the currency's minor unit with an explicit rounding rule.

    Half-up is the default because it is what tills and most ledgers print; pass
    ``ROUND_HALF_EVEN`` where a ledger uses banker's rounding.
    """
    return _to_decimal(value).quantize(quantum(currency), rounding=rounding)


def parse_amount(value: object, currency: str) -> Decimal:
    """Parse a decimal amount exactly; refuse one that is not exact in the currency.

    ``parse_amount("12.50", "GHS") == Decimal("12.50")``; ``parse_amount("12.505", "GHS")`` raises
    :class:`InvalidAmount`, and so does ``parse_amount("100.5", "XOF")``. Trailing zeros are fine:
    ``parse_amount("1500.00", "XOF") == Decimal("1500")``.
    """
    amount = _to_decimal(value)
    exact = amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)
    if exact != amount:
        raise InvalidAmount(f"{value!r} has more decimals than {normalize_currency(currency)} allows")
    return exact


def from_minor(value: object, currency: str) -> Decimal:
    """Convert an integer amount in minor units (Stripe, Square) to a Decimal amount.

    ``from_minor(1050, "usd") == Decimal("10.50")``; ``from_minor(1500, "XOF") == Decimal("1500")``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"minor-unit amount must be an integer, got {value!r}")
    return Decimal(value).scaleb(-minor_units(currency)).quantize(quantum(currency))


def to_minor(value: Decimal, currency: str) -> int:
    """Convert an exact Decimal amount to integer minor units; refuses inexact amounts."""
    exact = parse_amount(value, currency)
    return int(exact.scaleb(minor_units(currency)))


def allocate(total: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """Split ``total`` in proportion to ``weights`` so that the parts add up exactly to ``total``.

    Largest-remainder method: each part is rounded down to the minor unit and the leftover units go
    to the parts with the biggest remainders (first ones on ties). Used to spread an order-level
    discount or a tax difference over lines without losing or creating a cent.
    """
    q = quantum(currency)
    total = parse_amount(total, currency)
    if not weights:
        return []
    weight_sum = sum(weights, Decimal(0))
    if weight_sum == 0:
        weights = [Decimal(1)] * len(weights)
        weight_sum = Decimal(len(weights))
    sign = -1 if total < 0 else 1
    units = int((abs(total) / q).to_integral_value())
    raw = [Decimal(units) * w / weight_sum for w in weights]
    floors = [int(r) for r in raw]
    leftover = units - sum(floors)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))
    for i in order[:leftover]:
        floors[i] += 1
    return [(Decimal(sign * n) * q).quantize(q) for n in floors]
