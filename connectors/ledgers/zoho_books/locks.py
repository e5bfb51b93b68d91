"""Zoho Books transaction locking, read from the organisation. Pure functions: no HTTP, no clock.

Zoho publishes its locks at ``GET /transactionlocks`` (list, paginated with ``page``/``per_page``
and ``page_context.has_more_page``; OAuth scope ``ZohoBooks.accountants.READ``). Each entry of
``transaction_locks`` carries ``transaction_lock_status`` (``disabled``, ``enabled``,
``enabled_with_logging``), ``transaction_lock_date`` (yyyy-MM-dd: transactions dated on or before
it are locked), ``lock_status`` and ``lock_scope`` with its display text ``lock_scope_formatted``
(``All`` in Zoho's example). The modules a lock can be set for are ``sales``, ``purchase``,
``banking``, ``accountant`` and ``inventory_adjustments`` (``transaction_lock_module``). Zoho does
not publish which ``lock_scope`` number means which module, so the module is read from the
module name or the display text; a lock whose module cannot be told holds every module (the
posting is refused rather than sent into a period that may be closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

__all__ = ["ALL", "lock_of", "locks_in_force", "module_of_scope"]

ALL = "all"
_WORDS = (("inventory", "inventory_adjustments"), ("sale", "sales"), ("purchase", "purchases"),
          ("bank", "banking"), ("account", "accountant"))  # fmt: skip


def module_of_scope(text: str) -> str:
    """Our module name for Zoho's module name or scope text (``Sales`` -> ``sales``); ``all`` for
    ``All`` and for anything we cannot tell."""
    lowered = text.strip().lower()
    if not lowered or lowered.startswith(ALL):
        return ALL
    for word, module in _WORDS:
        if word in lowered:
            return module
    return ALL


def lock_of(row: Mapping[str, Any]) -> tuple[str, date] | None:
    """(module, lock date) of one entry of ``transaction_locks``; None when it is not in force
    (status ``disabled``, lock status ``unlocked``, or no date)."""
    if str(row.get("transaction_lock_status") or "enabled").lower() == "disabled":
        return None
    if str(row.get("lock_status") or "").lower() == "unlocked":
        return None
    try:
        day = date.fromisoformat(str(row.get("transaction_lock_date") or "")[:10])
    except ValueError:
        return None
    scope = row.get("transaction_lock_module") or row.get("lock_module") or row.get("lock_scope_formatted")
    return module_of_scope(str(scope or "")), day


def locks_in_force(rows: Iterable[Mapping[str, Any]]) -> dict[str, date]:
    """The latest lock date per module (``all`` = every module) of the entries in force."""
    out: dict[str, date] = {}
    for row in rows:
        found = lock_of(row)
        if found is not None:
            module, day = found
            out[module] = max(out.get(module, day), day)
    return out
