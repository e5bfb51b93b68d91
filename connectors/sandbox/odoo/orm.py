"""A tiny in-memory ORM in Odoo's shape: records, domains, ``read`` formatting, x2many commands.

Enough of Odoo's external behaviour for the sandbox: ``search``/``search_read``/``read``/
``search_count``/``create``/``write`` with Odoo's conventions (a many2one reads as ``[id,
name]`` or ``False``, an empty value as ``False``, domains in prefix notation with ``&``, ``|``,
``!``; x2many commands ``(0, 0, vals)``, ``(1, id, vals)``, ``(4, id)``, ``(6, 0, ids)``).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

__all__ = ["M2O", "X2M", "OdooError", "Store", "matches"]

M2O: dict[str, dict[str, str]] = {
    "account.move": {"partner_id": "res.partner", "journal_id": "account.journal", "currency_id": "res.currency",
                     "company_id": "res.company", "payment_id": "account.payment", "reversed_entry_id": "account.move"},
    "account.move.line": {"move_id": "account.move", "account_id": "account.account", "partner_id": "res.partner",
                          "currency_id": "res.currency", "tax_line_id": "account.tax", "product_id": "product.product",
                          "journal_id": "account.journal", "company_id": "res.company"},
    "account.payment": {"partner_id": "res.partner", "journal_id": "account.journal", "currency_id": "res.currency",
                        "move_id": "account.move", "company_id": "res.company"},
    "account.journal": {"default_account_id": "account.account", "currency_id": "res.currency", "company_id": "res.company"},
    "account.account": {"company_id": "res.company"},
    "account.tax": {"company_id": "res.company"},
    "account.tax.repartition.line": {"tax_id": "account.tax", "account_id": "account.account"},
    "res.partner": {"property_account_receivable_id": "account.account", "company_id": "res.company"},
    "res.company": {"currency_id": "res.currency"},
    "res.currency.rate": {"currency_id": "res.currency", "company_id": "res.company"},
    "product.product": {"property_account_income_id": "account.account"},
    "sale.order": {"partner_id": "res.partner", "currency_id": "res.currency", "company_id": "res.company"},
    "sale.order.line": {"order_id": "sale.order", "product_id": "product.product", "currency_id": "res.currency"},
}  # fmt: skip
X2M: dict[str, dict[str, str]] = {
    "account.move": {"line_ids": "account.move.line", "invoice_line_ids": "account.move.line"},
    "account.move.line": {"tax_ids": "account.tax", "matched_line_ids": "account.move.line"},
    "account.payment": {"reconciled_invoice_ids": "account.move"},
    "account.tax": {"invoice_repartition_line_ids": "account.tax.repartition.line"},
    "product.product": {"taxes_id": "account.tax"},
    "sale.order": {"order_line": "sale.order.line", "invoice_ids": "account.move"},
    "sale.order.line": {"tax_id": "account.tax", "tax_ids": "account.tax"},
    "sale.advance.payment.inv": {"sale_order_ids": "sale.order"},
}  # fmt: skip


class OdooError(Exception):
    """An exception the server raises: ``name`` is its Odoo class (``odoo.exceptions.UserError``)."""

    def __init__(self, message: str, name: str = "odoo.exceptions.UserError") -> None:
        super().__init__(message)
        self.message = message
        self.name = name


def _compare(value: Any, op: str, target: Any) -> bool:
    """One domain term: Odoo's operators, ``False`` matching empty values, x2many as contains."""
    if (
        isinstance(value, list)
        and value
        and op in ("=", "!=", "in", "not in")
        and not isinstance(target, list)
    ):
        value = value  # x2many: "contains"
        hit = target in value
        return hit if op in ("=", "in") else not hit
    if op == "=":
        return value == target or (target is False and value in (None, False, "", []))
    if op == "!=":
        return not _compare(value, "=", target)
    if op == "in":
        return value in (target or []) or (isinstance(value, list) and bool(set(value) & set(target or [])))
    if op == "not in":
        return not _compare(value, "in", target)
    if op in ("ilike", "like", "=ilike", "=like"):
        text, needle = str(value or ""), str(target or "")
        if op.startswith("="):
            return text.lower() == needle.lower() if op == "=ilike" else text == needle
        return needle.lower() in text.lower() if op == "ilike" else needle in text
    if value in (None, False):
        return False
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    }  # fmt: skip
    if op in ops:
        return ops[op](value, target)
    raise OdooError(f"Invalid operator {op!r}", "builtins.ValueError")


def matches(record: Mapping[str, Any], domain: list[Any]) -> bool:
    """Whether a record satisfies an Odoo domain (prefix notation, implicit ``&``)."""
    stack: list[bool] = []
    for term in reversed(domain or []):
        if term == "!":
            stack.append(not stack.pop())
        elif term in ("&", "|"):
            a, b = stack.pop(), stack.pop()
            stack.append((a and b) if term == "&" else (a or b))
        else:
            field, op, target = term
            stack.append(_compare(record.get(field), op, target))
    return all(stack)


class Store:
    """Records per model, ids from 1; ``computed`` hooks fill derived fields before a read."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
        self._ids: dict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        #: During a transaction: each touched record's state before it (None: inserted by it).
        self._undo: dict[tuple[str, int], dict[str, Any] | None] | None = None

    def begin(self) -> None:
        """Start a transaction: records are copied the first time they are touched."""
        self._undo = {}

    def commit(self) -> None:
        """Keep what the transaction did."""
        self._undo = None

    def rollback(self) -> None:
        """Undo what the transaction did (inserted records go, touched ones are restored)."""
        undo, self._undo = self._undo or {}, None
        for (model, rid), before in undo.items():
            if before is None:
                self.tables[model].pop(rid, None)
            else:
                self.tables[model][rid] = before

    def insert(self, model: str, values: Mapping[str, Any]) -> int:
        """Store a record as given (no commands, no checks); its id."""
        rid = next(self._ids[model])
        self.tables[model][rid] = {"id": rid, **values}
        if self._undo is not None:
            self._undo[(model, rid)] = None
        return rid

    def get(self, model: str, rid: int) -> dict[str, Any]:
        """A record by id, or MissingError (inside a transaction, remembered before any change)."""
        record = self.tables[model].get(int(rid))
        if record is not None and self._undo is not None and (model, int(rid)) not in self._undo:
            self._undo[(model, int(rid))] = {
                k: list(v) if isinstance(v, list) else v for k, v in record.items()
            }
        if record is None:
            raise OdooError(
                f"Record does not exist or has been deleted.\n(Record: {model}({rid},), User: 2)",
                "odoo.exceptions.MissingError",
            )
        return record

    def search(self, model: str, domain: list[Any], limit: int | None = None, order: str = "") -> list[int]:
        """Ids of the records matching ``domain``, ascending id (or ``id desc``)."""
        ids = [rid for rid, rec in sorted(self.tables[model].items()) if matches(rec, domain)]
        if order.strip().lower() == "id desc":
            ids.reverse()
        return ids[:limit] if limit else ids

    def display_name(self, model: str, rid: int) -> str:
        """What a many2one shows next to the id."""
        record = self.tables[model].get(rid) or {}
        return str(record.get("name") or record.get("code") or f"{model},{rid}")

    def read(self, model: str, ids: list[int], fields: list[str] | None = None) -> list[dict[str, Any]]:
        """Records as Odoo's ``read`` answers them."""
        out = []
        m2o = M2O.get(model, {})
        for rid in ids:
            record = self.get(model, rid)
            names = fields or [k for k in record if not k.startswith("_")]
            row: dict[str, Any] = {"id": rid}
            for name in names:
                value = record.get(name)
                if name in m2o:
                    row[name] = [value, self.display_name(m2o[name], value)] if value else False
                elif value is None or value == "":
                    row[name] = False
                elif isinstance(value, list):
                    row[name] = list(value)
                else:
                    row[name] = value
            out.append(row)
        return out

    def x2many(self, model: str, field: str, current: list[int], commands: Any, parent: dict[str, Any],
               create: Callable[[str, dict[str, Any], dict[str, Any]], int],
               update: Callable[[str, int, dict[str, Any]], None]) -> list[int]:  # fmt: skip
        """Apply x2many commands to a list of ids."""
        ids = list(current)
        for command in commands or []:
            code = int(command[0])
            if code == 0:
                ids.append(create(X2M[model][field], dict(command[2]), parent))
            elif code == 1:
                update(X2M[model][field], int(command[1]), dict(command[2]))
            elif code == 2 or code == 3:
                ids = [i for i in ids if i != int(command[1])]
            elif code == 4:
                ids.append(int(command[1]))
            elif code == 5:
                ids = []
            elif code == 6:
                ids = [int(i) for i in command[2]]
            else:
                raise OdooError(f"Unknown x2many command {code}", "builtins.ValueError")
        return ids


def dec(value: Any) -> Decimal:
    """A number from the wire as a Decimal."""
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))
