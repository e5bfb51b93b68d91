"""Money: ISO-4217 minor units, exact parsing, no floats, allocation that never loses a cent."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrator import money


@pytest.mark.parametrize(
    ("currency", "units"),
    [
        ("XOF", 0),
        ("XAF", 0),
        ("UGX", 0),
        ("RWF", 0),
        ("GHS", 2),
        ("NGN", 2),
        ("KES", 2),
        ("ZAR", 2),
        ("TND", 3),
        ("LYD", 3),
    ],
)
def test_minor_units_follow_iso_4217(currency: str, units: int) -> None:
    assert money.minor_units(currency) == units
    assert money.minor_units(currency.lower()) == units


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(money.UnknownCurrency):
        money.minor_units("XYZ")
    assert not money.is_known_currency("ABC")


def test_parse_amount_is_exact_and_refuses_extra_decimals() -> None:
    assert money.parse_amount("12.50", "GHS") == Decimal("12.50")
    assert money.parse_amount("1500.00", "XOF") == Decimal("1500")
    assert str(money.parse_amount("1500", "XOF")) == "1500"
    with pytest.raises(money.InvalidAmount):
        money.parse_amount("12.505", "GHS")
    with pytest.raises(money.InvalidAmount):
        money.parse_amount("100.5", "XOF")
    with pytest.raises(money.InvalidAmount):
        money.parse_amount("0.0005", "TND")


@pytest.mark.parametrize("bad", [12.5, float("nan"), "NaN", "Infinity", "1e308", True, None, "abc"])
def test_floats_and_non_numbers_are_refused(bad: object) -> None:
    with pytest.raises(money.InvalidAmount):
        money.parse_amount(bad, "GBP")


def test_minor_unit_conversion_is_currency_aware() -> None:
    assert money.from_minor(1050, "usd") == Decimal("10.50")
    assert money.from_minor(1500, "XOF") == Decimal("1500")
    assert money.from_minor(1234, "TND") == Decimal("1.234")
    assert money.to_minor(Decimal("10.50"), "GBP") == 1050
    assert money.to_minor(Decimal("1500"), "XOF") == 1500
    with pytest.raises(money.InvalidAmount):
        money.from_minor(10.5, "GBP")


def test_quantize_uses_explicit_rounding() -> None:
    assert money.quantize(Decimal("2.675"), "GBP") == Decimal("2.68")
    assert money.quantize(Decimal("2.665"), "GBP", money.ROUND_HALF_EVEN) == Decimal("2.66")
    assert money.quantize(Decimal("1499.5"), "XOF") == Decimal("1500")


@given(
    total=st.integers(min_value=-10_000_000, max_value=10_000_000),
    weights=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=12),
    currency=st.sampled_from(["GBP", "XOF", "TND"]),
)
def test_allocation_always_adds_up_to_the_total(total: int, weights: list[int], currency: str) -> None:
    amount = money.from_minor(total, currency)
    parts = money.allocate(amount, [Decimal(w) for w in weights], currency)
    assert sum(parts, Decimal(0)) == amount
    assert all(p == money.quantize(p, currency) for p in parts)
    assert len(parts) == len(weights)
