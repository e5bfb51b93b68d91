"""A seeded generator of hostile webhook bodies for R13 (generic signed JSON source).

Each case is one of the kinds RELIABILITY.md lists: bad JSON, bodies over 1 MiB, deep nesting,
invalid UTF-8, NUL, 1e308 and other huge numbers, negative or 3-decimal amounts in a 2-decimal
currency, unknown currencies, wrong types, plus missing or wrong signatures. Every case starts
from a valid sale and breaks exactly one thing, so none of them can be a correct sale by accident.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.conftest import sale_event

LIMIT = 1_048_576


@dataclass(frozen=True)
class Case:
    """One hostile delivery: its kind, the raw body, and how to sign it."""

    kind: str
    body: bytes
    signature: str = "valid"  # valid | missing | wrong


def _valid(i: int) -> dict[str, Any]:
    event = sale_event(f"R13-{i}")
    event["id"] = f"evt-R13-{i}"
    return event


def _dump(event: Any) -> bytes:
    return json.dumps(event).encode()


def _bad_json(rng: random.Random, i: int) -> Case:
    text = _dump(_valid(i)).decode()
    how = rng.randrange(5)
    if how == 0:
        broken = text[: rng.randrange(1, len(text) - 1)]  # truncated: never balanced
    elif how == 1:
        broken = text + rng.choice(["x", "}", ",", " {", "]"])  # extra data after the object
    elif how == 2:
        broken = text.replace(":", "=", 1)
    elif how == 3:
        broken = text.replace("}", ",}", 1)  # trailing comma
    else:
        broken = "{" + "".join(rng.choice('{["a:,1}') for _ in range(rng.randrange(1, 200)))
    return Case("bad_json", broken.encode())


def _oversized(rng: random.Random, i: int) -> Case:
    event = _valid(i)
    event["data"]["note"] = "x" * (LIMIT + rng.randrange(1, 200_000))
    return Case("oversized", _dump(event))


def _deep(rng: random.Random, i: int) -> Case:
    depth = rng.choice([rng.randrange(50, 990), rng.randrange(990, 3000), rng.randrange(3000, 200_000)])
    nested = "[" * depth + "]" * depth
    event = _valid(i)
    where = rng.choice(["top", "data", "customer", "line"])
    if where == "top":
        return Case("deep_nesting", nested.encode())
    placeholder = "__DEEP__"
    if where == "data":
        event["data"]["note"] = placeholder
    elif where == "customer":
        event["data"]["customer"] = {"id": "C", "name": placeholder}
    else:
        event["data"]["lines"][0]["name"] = placeholder
    return Case("deep_nesting", _dump(event).replace(f'"{placeholder}"'.encode(), nested.encode()))


def _invalid_utf8(rng: random.Random, i: int) -> Case:
    body = _dump(_valid(i))
    bad = rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c\xbc", b"\x80"])
    at = body.index(b"Kente") + rng.randrange(0, 5)
    return Case("invalid_utf8", body[:at] + bad + body[at:])


def _nul(rng: random.Random, i: int) -> Case:
    body = _dump(_valid(i))
    nul = rng.choice([b"\x00", b"\\u0000"])
    at = body.index(b"Kente") + rng.randrange(0, 5)
    return Case("nul", body[:at] + nul + body[at:])


def _set_amount(event: dict[str, Any], rng: random.Random, value: Any) -> None:
    data = event["data"]
    target = rng.choice(["total", "unit_price", "tax", "tender"])
    if target == "total":
        data["total"] = value
    elif target == "unit_price":
        data["lines"][0]["unit_price"] = value
    elif target == "tax":
        data["lines"][0]["taxes"][0]["amount"] = value
    else:
        data["tenders"][0]["amount"] = value


_RAW_NUMBERS = ["1e308", "-1e308", "1e309", "1E+400", "NaN", "Infinity", "-Infinity", "1" * 400, "0.1e-400"]


def _huge_number(rng: random.Random, i: int) -> Case:
    event = _valid(i)
    _set_amount(event, rng, "__NUMBER__")
    raw = rng.choice([*_RAW_NUMBERS, f'"{rng.choice(_RAW_NUMBERS)}"', str(10 ** rng.randrange(16, 500))])
    return Case("huge_number", _dump(event).replace(b'"__NUMBER__"', raw.encode()))


def _bad_amount(rng: random.Random, i: int) -> Case:
    event = _valid(i)
    value = rng.choice(
        [
            f"-{rng.randrange(1, 999)}.{rng.randrange(0, 99):02d}",  # negative
            # Three or four decimals in GBP, the last one never 0 (12.340 is exactly 12.34).
            f"{rng.randrange(1, 999)}.{rng.randrange(0, 99):02d}{rng.randrange(1, 10)}",
            f"{rng.randrange(1, 999)}.{rng.randrange(0, 999):03d}{rng.randrange(1, 10)}",
            -rng.randrange(1, 10**6),
            "1,00",
            " 12.00",
            "12.",
            ".5",
            "+12.00",
            "0x10",
        ]
    )
    _set_amount(event, rng, value)
    return Case("bad_amount", _dump(event))


def _bad_currency(rng: random.Random, i: int) -> Case:
    event = _valid(i)
    event["data"]["currency"] = rng.choice(
        ["XXY", "ZZZ", "EURO", "", "12$", "G B", "€", "gb", "US D", "XTS1"]
    )
    return Case("bad_currency", _dump(event))


_NOT_STRING = [None, True, [], {}, 12.5, 17, ["x"]]
_NOT_AMOUNT = [None, True, [], {}, 12.5, ["12.00"], {"amount": "12.00"}]
_NOT_ARRAY = [None, True, {}, "x", 12.5, 3]
_NOT_OBJECT = [None, True, [], "x", 12.5, 3]
_NOT_BOOLEAN = [None, "yes", 1, 0, [], {}]
_NOT_QUANTITY = [None, True, "many", [], {}]


def _wrong_type(rng: random.Random, i: int) -> Case:
    """One field gets a value of a type its schema never allows."""
    event = _valid(i)
    data = event["data"]
    line = data["lines"][0]
    setters: list[tuple[list[Any], Callable[[Any], None]]] = [
        (_NOT_STRING, lambda v: event.__setitem__("id", v)),
        (_NOT_STRING, lambda v: event.__setitem__("type", v)),
        (_NOT_STRING, lambda v: event.__setitem__("created_at", v)),
        (_NOT_OBJECT, lambda v: event.__setitem__("data", v)),
        (_NOT_STRING, lambda v: data.__setitem__("id", v)),
        (_NOT_STRING, lambda v: data.__setitem__("occurred_at", v)),
        (_NOT_STRING, lambda v: data.__setitem__("currency", v)),
        (_NOT_AMOUNT, lambda v: data.__setitem__("total", v)),
        (_NOT_ARRAY, lambda v: data.__setitem__("lines", v)),
        (_NOT_ARRAY, lambda v: data.__setitem__("tenders", v)),
        (_NOT_OBJECT, lambda v: data.__setitem__("customer", v)),
        (_NOT_BOOLEAN, lambda v: data.__setitem__("prices_include_tax", v)),
        (_NOT_OBJECT, lambda v: data.__setitem__("lines", [v])),
        (_NOT_QUANTITY, lambda v: line.__setitem__("quantity", v)),
        (_NOT_AMOUNT, lambda v: line.__setitem__("unit_price", v)),
        (_NOT_ARRAY, lambda v: line.__setitem__("taxes", v)),
        (_NOT_STRING, lambda v: line.__setitem__("sku", v)),
    ]
    junk, setter = rng.choice(setters)
    setter(rng.choice(junk))
    return Case("wrong_type", _dump(event))


def _bad_datetime(rng: random.Random, i: int) -> Case:
    event = _valid(i)
    event["data"]["occurred_at"] = rng.choice(
        ["yesterday", "2026-13-45T99:00:00+00:00", "2026-11-20T10:00:00", "2026-02-30T10:00:00Z", "", "0"]
    )
    return Case("bad_datetime", _dump(event))


def _bad_signature(rng: random.Random, i: int) -> Case:
    return Case("signature", _dump(_valid(i)), signature=rng.choice(["missing", "wrong"]))


KINDS: list[tuple[Callable[[random.Random, int], Case], int]] = [
    (_bad_json, 14),
    (_oversized, 1),
    (_deep, 8),
    (_invalid_utf8, 10),
    (_nul, 8),
    (_huge_number, 14),
    (_bad_amount, 16),
    (_bad_currency, 10),
    (_wrong_type, 16),
    (_bad_datetime, 4),
    (_bad_signature, 3),
]


def malformed_cases(count: int, seed: int) -> Iterator[Case]:
    """``count`` hostile deliveries, reproducible from ``seed``."""
    rng = random.Random(seed)
    makers = [maker for maker, _ in KINDS]
    weights = [weight for _, weight in KINDS]
    for i in range(count):
        yield rng.choices(makers, weights)[0](rng, i)
