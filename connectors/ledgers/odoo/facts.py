"""What the connector reads once from an Odoo database: company currency, chart, taxes, journals,
lock dates. Cached per database for ten minutes (:data:`FACTS_TTL_SECONDS`); a lock-date refusal
from Odoo drops the cache so the next posting reads the new dates.

Lock dates by version: 17 has ``period_lock_date`` (non-advisers) and ``fiscalyear_lock_date``;
18 replaced the first with ``sale_lock_date`` / ``purchase_lock_date`` and added
``hard_lock_date``. The latest of those that apply to customer documents is the lock date.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.base import Permanent
from connectors.ledgers.odoo.rpc import OdooRPC

__all__ = ["FACTS_TTL_SECONDS", "OdooFacts", "forget_facts", "lock_fields", "many2one_id", "read_facts"]

FACTS_TTL_SECONDS = 600
_cache: dict[str, tuple[float, OdooFacts]] = {}


def many2one_id(value: Any) -> int | None:
    """The id of a many2one as Odoo reads it (``[id, name]``, an id, or False)."""
    if isinstance(value, list | tuple):
        return int(value[0]) if value else None
    if value is False or value is None:
        return None
    return int(value)


def lock_fields(major: int) -> tuple[str, ...]:
    """The company's lock-date fields that bind customer documents, for a version."""
    if major >= 18:
        return ("fiscalyear_lock_date", "sale_lock_date", "hard_lock_date")
    return ("fiscalyear_lock_date", "period_lock_date")


@dataclass(frozen=True)
class OdooFacts:
    """One database's company, as the connector needs it."""

    version: tuple[int, int]
    company_name: str
    currency: str
    currency_ids: dict[str, int]
    accounts: dict[str, dict[str, Any]]
    taxes: dict[int, dict[str, Any]]
    journals: list[dict[str, Any]]
    lock_date: date | None
    account_codes: dict[int, str] = field(default_factory=dict)
    places: int = 2

    def account_id(self, code: str, ref: str = "") -> int:
        """Odoo's id of an account, by its id (``ref``) or its code."""
        if ref and ref.isdigit():
            return int(ref)
        account = self.accounts.get(code)
        if account is None:
            raise Permanent(f"odoo: no account {code} in the chart; refresh the chart", vendor_code="account")
        return int(account["id"])

    def money_journal(self, account_id: int) -> int:
        """The bank or cash journal that posts to ``account_id``."""
        for journal in self.journals:
            if (
                journal["type"] in ("bank", "cash")
                and many2one_id(journal.get("default_account_id")) == account_id
            ):
                return int(journal["id"])
        code = self.account_codes.get(account_id, str(account_id))
        raise Permanent(
            f"odoo: no bank or cash journal posts to account {code}: create one in Odoo (Accounting > "
            "Configuration > Journals) with it as the journal's account",
            vendor_code="journal",
        )

    def journal_of(self, kind: str) -> int | None:
        """The first journal of a type (``sale``, ``general``)."""
        return next((int(j["id"]) for j in self.journals if j["type"] == kind), None)

    def sales_tax(self, tax_ref: str) -> int | None:
        """The price-excluded sales tax to send for a mapped tax: itself, or its price-excluded twin
        (same amount and type) when the mapped tax includes the price."""
        if not tax_ref or not tax_ref.isdigit():
            return None
        tax = self.taxes.get(int(tax_ref))
        if tax is None:
            raise Permanent(
                f"odoo: tax {tax_ref} is not in the database; refresh the chart", vendor_code="tax"
            )
        if not tax.get("price_include"):
            return int(tax_ref)
        for tid, other in self.taxes.items():
            if (not other.get("price_include") and other.get("amount") == tax.get("amount")
                    and other.get("amount_type") == tax.get("amount_type")):  # fmt: skip
                return tid
        raise Permanent(
            f"odoo: tax {tax.get('name')} includes the price and has no price-excluded twin; create one in Odoo",
            vendor_code="tax",
        )


def _date(value: Any) -> date | None:
    return date.fromisoformat(str(value)[:10]) if value else None


def read_facts(rpc: OdooRPC, key: str, *, refresh: bool = False) -> OdooFacts:
    """The database's facts, from the cache unless older than ten minutes (or ``refresh``)."""
    cached = _cache.get(key)
    if cached is not None and not refresh and cached[0] > time.monotonic():
        return cached[1]
    version = rpc.version()
    locks = lock_fields(version[0])
    company = (
        rpc.call("res.company", "search_read", [], fields=["name", "currency_id", *locks], limit=1) or [{}]
    )[0]
    currencies = rpc.call(
        "res.currency", "search_read", [("active", "=", True)], fields=["name", "decimal_places"]
    )
    currency_ids = {str(c["name"]): int(c["id"]) for c in currencies}
    currency = str((company.get("currency_id") or [0, ""])[1])
    accounts = rpc.call("account.account", "search_read", [], fields=["code", "name", "account_type"])
    taxes = rpc.call("account.tax", "search_read", [("type_tax_use", "=", "sale")],
                     fields=["name", "amount", "amount_type", "price_include", "description"])  # fmt: skip
    journals = rpc.call(
        "account.journal", "search_read", [], fields=["code", "name", "type", "default_account_id"]
    )
    dates = [d for d in (_date(company.get(f)) for f in locks) if d]
    facts = OdooFacts(
        version=version,
        company_name=str(company.get("name") or ""),
        currency=currency,
        currency_ids=currency_ids,
        accounts={str(a["code"]): dict(a) for a in accounts},
        taxes={int(t["id"]): {**t, "amount": Decimal(str(t.get("amount") or 0))} for t in taxes},
        journals=[dict(j) for j in journals],
        lock_date=max(dates) if dates else None,
        account_codes={int(a["id"]): str(a["code"]) for a in accounts},
        places=next((int(c.get("decimal_places") or 0) for c in currencies if c["name"] == currency), 2),
    )
    _cache[key] = (time.monotonic() + FACTS_TTL_SECONDS, facts)
    return facts


def forget_facts(key: str) -> None:
    """Drop the cached facts of a database (after Odoo refused a date as locked)."""
    _cache.pop(key, None)
