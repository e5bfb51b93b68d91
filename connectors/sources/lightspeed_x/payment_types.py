"""Payment types to method names: the names the mapping's clearing rules match on.

X-Series payment types are named by the retailer ("Cash", "Credit Card", "M-Pesa", ...); each
payment on a sale carries the name and the retailer payment type id. We turn the name into a
stable method name (``cash``, ``card``, ``mpesa``, ``orange_money`` ...) so a clearing rule written
once keeps matching; ``settings["payment_methods"]`` can pin any payment type id or name to a
method of the retailer's choosing. Anything unknown becomes a slug of its name ("Saddlers" ->
``saddlers``), never a silent catch-all.

Some payment types are not money received: a gift card or store credit redeemed spends a
liability (``kind="gift_card"``), and "On Account" means the customer owes the balance, so it is
left out of the tenders and the journal books the rest to accounts receivable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["LIABILITY_METHODS", "ON_ACCOUNT", "method_for"]

ON_ACCOUNT = "on_account"
#: Methods that redeem a liability instead of bringing money in (Tender.kind = "gift_card").
LIABILITY_METHODS = frozenset({"gift_card", "store_credit", "loyalty"})

_SYNONYMS = {
    "cash": "cash",
    "cash payment": "cash",
    "especes": "cash",
    "espèces": "cash",
    "card": "card",
    "credit card": "card",
    "debit card": "card",
    "credit/debit card": "card",
    "eftpos": "card",
    "visa": "card",
    "mastercard": "card",
    "amex": "card",
    "american express": "card",
    "lightspeed payments": "card",
    "m-pesa": "mpesa",
    "mpesa": "mpesa",
    "m pesa": "mpesa",
    "lipa na m-pesa": "mpesa",
    "orange money": "orange_money",
    "orange-money": "orange_money",
    "mtn momo": "mtn_momo",
    "mtn mobile money": "mtn_momo",
    "momo": "mtn_momo",
    "airtel money": "airtel_money",
    "wave": "wave",
    "gift card": "gift_card",
    "giftcard": "gift_card",
    "store credit": "store_credit",
    "loyalty": "loyalty",
    "on account": ON_ACCOUNT,
    "account": ON_ACCOUNT,
}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def method_for(payment: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> str:
    """The method name of one payment: an override by payment type id or name, a known synonym of
    its name, or a slug of the name (``"other"`` when the payment has no name at all)."""
    overrides = overrides or {}
    name = str(payment.get("name") or payment.get("payment_type_name") or "").strip()
    for key in (
        payment.get("retailer_payment_type_id"),
        payment.get("payment_type_id"),
        name,
        name.lower(),
    ):
        if key and str(key) in overrides:
            return str(overrides[str(key)])
    lowered = name.lower()
    if lowered in _SYNONYMS:
        return _SYNONYMS[lowered]
    return _slug(name) or "other"
