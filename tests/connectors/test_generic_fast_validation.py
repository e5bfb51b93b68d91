"""The generic source checks payloads with a compiled validator first (issue 19): it must decide
exactly as the pure-Python validator did, accepting and refusing the same payloads with the same
reason.

Every leaf and container of a full sale, refund, payout and cash count payload is replaced in
turn by hostile values (other types, fractional and huge numbers, a trailing newline under an
anchored pattern, non-ASCII digits, a lone surrogate, empty and oversized strings), keys are
dropped and added, and each variant goes through the source's check and through the pure-Python
validator alone.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from connectors.base import MalformedPayload
from connectors.sources import generic
from tests.conftest import sale_event

HOSTILE: list[Any] = [
    None,
    True,
    0,
    1,
    -1,
    2,
    10**40,
    Decimal("1.0"),
    Decimal("0.5"),
    Decimal("1E+400"),
    1.0,
    0.5,
    "",
    "1.0",
    "12.50",
    "-12.50",
    "1.00000",
    "GBP\n",
    "gbp",
    "\u0661\u0662",
    "\ud800",
    "x" * 5000,
    "2026-11-20T10:00:00+00:00",
    [],
    {},
    [1],
    {"a": 1},
]


def _payloads() -> dict[str, dict[str, Any]]:
    """A full payload of each event data schema, parsed as the source parses bodies."""
    sale = sale_event(
        "S-9",
        location="Accra",
        register="Till 1",
        customer={"email": "ama@example.com", "name": "Ama", "company": "", "tax_number": ""},
        discounts=[{"code": "TEN", "amount": "1.00"}],
        shipping=[{"title": "Post", "amount": "4.00", "taxes": []}],
        tips="2.00",
        exchange_rates=[{"base": "GBP", "quote": "GHS", "rate": "15.5"}],
    )["data"]
    refund = {"id": "R-1", "sale_id": "S-9", "occurred_at": "2026-11-21T10:00:00Z", "currency": "GBP",
              "total": "12.00", "lines": [{"sku": "K", "name": "K", "quantity": 1, "unit_price": "10.00",
                                           "restock": True, "taxes": [{"title": "VAT", "rate": "0.2",
                                                                       "amount": "2.00"}]}],
              "tenders": [{"method": "card", "amount": "12.00"}], "reason": "damaged"}  # fmt: skip
    payout = {"id": "P-1", "occurred_at": "2026-11-22T10:00:00Z", "arrival_date": "2026-11-23",
              "currency": "GBP", "amount": "100.00", "status": "paid",
              "items": [{"type": "charge", "source_id": "S-9", "amount": "101.00", "fee": "1.00",
                         "net": "100.00"}]}  # fmt: skip
    count = {"id": "C-1", "occurred_at": "2026-11-22T18:00:00Z", "currency": "GBP", "expected": "50.00",
             "counted": "49.50", "float_change": "0.00", "location": "Accra", "register": "Till 1"}  # fmt: skip
    parsed = {
        name: json.loads(json.dumps(data), parse_float=Decimal)
        for name, data in {"sale": sale, "refund": refund, "payout": payout, "cash_count": count}.items()
    }
    return parsed


def _places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into ``value`` (containers and leaves)."""
    yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _places(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _places(inner, (*path, i))


def _replaced(value: Any, path: tuple[Any, ...], new: Any, *, drop: bool = False) -> Any:
    out = copy.deepcopy(value)
    holder = out
    for step in path[:-1]:
        holder = holder[step]
    if drop:
        del holder[path[-1]]
    else:
        holder[path[-1]] = new
    return out


def _variants(data: dict[str, Any]) -> Iterator[Any]:
    yield data
    for path in _places(data):
        if not path:
            continue
        for new in HOSTILE:
            yield _replaced(data, path, new)
        if isinstance(path[-1], str):
            yield _replaced(data, path, None, drop=True)
    yield {**data, "unexpected": 1}


def _python_verdict(definition: str, payload: Any) -> str:
    """What the pure-Python validator alone says: "" or the first error's reason, as ``_check``
    words it (an unreadable value raises as it would)."""
    try:
        validator = generic._validator(definition)
        errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    except Exception as exc:  # the same exception must come out of _check
        return f"raises {type(exc).__name__}"
    if not errors:
        return ""
    where = "/".join(str(p) for p in errors[0].absolute_path) or "<root>"
    return f"{definition} at {where}: {errors[0].message[:200]}"


def _checked(definition: str, payload: Any) -> str:
    try:
        generic._check(definition, payload, definition)
    except MalformedPayload as exc:
        return str(exc)
    except Exception as exc:
        return f"raises {type(exc).__name__}"
    return ""


def test_the_compiled_validator_is_installed_and_used() -> None:
    """The fast path is really taken for a well-formed sale (else this change bought nothing)."""
    sale = _payloads()["sale"]
    assert generic._fast_validator("sale") is not None
    assert generic._accepted_fast("sale", sale)
    assert _checked("sale", sale) == ""


@pytest.mark.parametrize("definition", ["sale", "refund", "payout", "cash_count"])
def test_every_hostile_variant_is_judged_as_the_pure_python_validator_judges_it(definition: str) -> None:
    data = _payloads()[definition]
    assert _python_verdict(definition, data) == "", "the base payload must be valid"
    judged = refused = 0
    for variant in _variants(data):
        expected = _python_verdict(definition, variant)
        assert _checked(definition, variant) == expected, variant
        judged += 1
        refused += expected != ""
    # The variants exercise both answers, many times over.
    assert judged > 200 and refused > 100 and judged - refused > 20, (judged, refused)


def test_an_integral_fraction_is_refused_where_an_integer_is_required() -> None:
    """``1.0`` in a quantity: an integer for the compiled validator (as JSON Schema 2020-12 says),
    not for the pure-Python one, whose answer stands (the payload goes to it)."""
    sale = _payloads()["sale"]
    sale["lines"][0]["quantity"] = Decimal("1.0")
    assert generic._fast_validator("sale").is_valid(sale)
    assert not generic._accepted_fast("sale", sale)
    assert _checked("sale", sale).startswith("sale at lines/0/quantity")
