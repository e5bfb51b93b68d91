"""Every call the Odoo connector makes, checked against Odoo 17's field inventory.

Given the field spec under ../shared/specs/odoo (derived from Odoo 17.0's account, product and base
modules), when the connector posts each kind of document and reads the company's lists, then every
field it writes (move values and their line commands, payments, partners), reads or searches on
exists on the model (or on the model it ``_inherits``), every selection value it sends is one the
field allows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.connectors.odoo_support import (
    odoo_sandbox,
    payment_doc,
    payout_doc,
    refund_doc,
    sale_doc,
    target_for,
)

SPEC = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "specs"
    / "odoo"
    / "odoo-17.0-accounting-models.fields.json"
)
#: Models the connector reads that the inventory does not cover (base and currency models).
OUTSIDE_SPEC = {"res.company", "res.currency", "res.currency.rate"}
#: Line commands' values are account.move.line values.
LINE_FIELDS = {"invoice_line_ids", "line_ids"}


def _spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"{SPEC} is not here")
    return dict(json.loads(SPEC.read_text())["models"])


def _fields(spec: dict[str, Any], model: str) -> dict[str, Any]:
    fields = dict(spec[model]["fields"])
    for definition in spec[model].get("definitions", []):
        for parent in definition.get("_inherits") or {}:
            fields.update(spec[parent]["fields"])
    return fields


def _check_values(spec: dict[str, Any], model: str, values: dict[str, Any], problems: list[str]) -> None:
    fields = _fields(spec, model)
    for name, value in values.items():
        field = fields.get(name)
        if field is None:
            problems.append(f"{model}.{name} is not a field")
            continue
        selection = [
            str(option[0]) for option in field.get("selection") or [] if isinstance(option, list | tuple)
        ]
        if selection and isinstance(value, str) and value not in selection:
            problems.append(f"{model}.{name} = {value!r} is not one of {selection}")
        if name in LINE_FIELDS:
            for command in value:
                if command[0] in (0, 1):
                    _check_values(spec, "account.move.line", dict(command[2]), problems)


def _domain_fields(domain: list[Any]) -> list[str]:
    return [term[0] for term in domain or [] if isinstance(term, list | tuple)]


def test_every_call_uses_fields_odoo_17_has() -> None:
    spec = _spec()
    with odoo_sandbox(17) as odoo:
        target = target_for(odoo)
        target.post(sale_doc("#S1", (("10.00", 3),)))
        target.post(sale_doc("#S2", (("0.03", 1), ("0.03", 1)), per_document_tax=True))
        invoice = target.post(sale_doc("INV-1", (("100.00", 1),), receivable=True))
        target.post(payment_doc("PAY-1", "60.00", invoice.remote_id))
        target.post(refund_doc("CN-1", "20.00", related=invoice.remote_id, money=False))
        target.post(refund_doc("R-1", "5.00"))
        target.post(payout_doc("PO-1"))
        target.post(sale_doc("DKR-1", (("9500", 2),), currency="XOF"))
        for result_doc in (sale_doc("#S1", (("10.00", 3),)),):
            target.read_back(result_doc, target.post(result_doc))
        target.fetch_accounts(), target.fetch_tax_codes(), target.fetch_contacts(), target.test_connection()
        log = list(odoo.call_log)
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for _, model, method, args, kwargs in log:
        seen.add((model, method))
        if model in OUTSIDE_SPEC:
            continue
        assert model in spec, f"{model} is not in the inventory"
        fields = _fields(spec, model)
        if method == "create":
            for values in args[0] if isinstance(args[0], list) else [args[0]]:
                _check_values(spec, model, dict(values), problems)
        elif method == "write":
            _check_values(spec, model, dict(kwargs.get("vals") or args[1]), problems)
        elif method in ("search_read", "search", "read", "search_count"):
            domain = args[0] if method != "read" and args else kwargs.get("domain", [])
            names = _domain_fields(domain) + list(kwargs.get("fields") or [])
            problems += [f"{model}.{n} (in {method})" for n in names if n not in fields and n != "id"]
        elif method not in ("action_post", "js_assign_outstanding_line"):
            problems.append(f"{model}.{method} is not a method the connector should call")
    assert problems == [], "\n".join(problems)
    assert {("account.move", "create"), ("account.move", "action_post"), ("account.payment", "create"),
            ("account.move", "js_assign_outstanding_line"), ("account.move", "write"), ("res.partner", "create")} <= seen  # fmt: skip


def test_odoo_18_payments_carry_memo_not_ref() -> None:
    spec = _spec()
    assert "ref" in _fields(spec, "account.payment")  # 17: delegated to the move
    with odoo_sandbox(18) as odoo:
        target_for(odoo).post(sale_doc("#S18"))
        created = [
            a[0] for _, m, method, a, _ in odoo.call_log if m == "account.payment" and method == "create"
        ]
    assert created and created[0]["memo"] == "#S18/1" and "ref" not in created[0]
