"""The store's workflow and accounting choices, read once from the channel's settings.

Magento does not say in an order whether its catalogue prices include tax, which statuses the
merchant treats as "sold", or which payment methods are invoices on credit: those are store
configuration, so the channel carries them. Each setting has a default that suits a standard
Magento store (prices without tax, a sale once the order is fully invoiced).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_METHOD_NAMES", "StoreSettings"]

#: Magento payment method codes -> the stable method names mapping rules match on. Codes not
#: listed keep their own code (``settings["payment_method_names"]`` adds or overrides entries).
DEFAULT_METHOD_NAMES: dict[str, str] = {
    "checkmo": "check",
    "banktransfer": "bank_transfer",
    "cashondelivery": "cash_on_delivery",
    "purchaseorder": "purchase_order",
    "companycredit": "company_credit",
    "free": "free",
    "braintree": "card",
    "braintree_cc_vault": "card",
    "payment_services_paypal_hosted_fields": "card",
    "payment_services_paypal_vault": "card",
    "stripe_payments": "card",
    "authnetcim": "card",
    "adyen_cc": "card",
    "paypal_express": "paypal",
    "braintree_paypal": "paypal",
    "payment_services_paypal_smart_buttons": "paypal",
    "klarna_kp": "klarna",
}


def _words(value: Any, default: tuple[str, ...]) -> frozenset[str]:
    """A list setting given as a JSON list or a comma-separated string, lower-cased."""
    if value is None:
        return frozenset(default)
    items = value.split(",") if isinstance(value, str) else list(value)
    return frozenset(str(x).strip().lower() for x in items if str(x).strip())


def _pairs(value: Any) -> dict[str, str]:
    """``{"code": "name"}`` or ``"code=name, code=name"``."""
    if isinstance(value, Mapping):
        return {str(k).strip(): str(v).strip() for k, v in value.items() if str(k).strip()}
    result: dict[str, str] = {}
    if isinstance(value, str):
        for part in value.split(","):
            code, sep, name = part.partition("=")
            if sep and code.strip() and name.strip():
                result[code.strip()] = name.strip()
    return result


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass(frozen=True)
class StoreSettings:
    """What the connector needs to know about the store (see the module docstring).

    * ``prices_include_tax`` - the store's "Catalog Prices: Including Tax" (documents are emitted
      tax-inclusive; both ways add up to Magento's totals to the cent).
    * ``sale_statuses`` - order statuses (or states) at which an order is a sale; ``closed``
      (fully refunded) stays a sale, its credit memos reverse it.
    * ``require_invoice`` - a sale status counts only once the order is fully invoiced
      ("processing with an invoice"), so a shipped-but-unbilled order books nothing yet.
    * ``void_statuses`` - statuses (or states) that cancel the order: the sale is voided (books
      nothing and undoes what an earlier revision booked).
    * ``b2b_payment_methods`` - payment method codes sold on credit (Adobe Commerce B2B "Payment
      on Account", purchase orders): such orders are not sales; their Magento invoices become
      B2B invoices due ``payment_terms_days`` after issue.
    * ``invoice_paid_is_payment`` - book a B2B invoice's "Paid" state as the payment received
      (off by default: "Payment on Account" invoices are "Paid" when charged to the company's
      credit, long before the money arrives).
    * ``payment_method_names`` - overrides of :data:`DEFAULT_METHOD_NAMES`.
    """

    prices_include_tax: bool = False
    sale_statuses: frozenset[str] = frozenset({"processing", "complete", "closed"})
    require_invoice: bool = True
    void_statuses: frozenset[str] = frozenset({"canceled"})
    b2b_payment_methods: frozenset[str] = frozenset()
    payment_terms_days: int = 30
    invoice_paid_is_payment: bool = False
    payment_method_names: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_METHOD_NAMES))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> StoreSettings:
        """Read the channel's settings, with the defaults above for anything not set."""
        names = dict(DEFAULT_METHOD_NAMES)
        names.update(_pairs(settings.get("payment_method_names")))
        try:
            terms = int(settings.get("payment_terms_days") or 30)
        except (TypeError, ValueError):
            terms = 30
        return cls(
            prices_include_tax=_flag(settings.get("prices_include_tax"), False),
            sale_statuses=_words(settings.get("sale_statuses"), ("processing", "complete", "closed")),
            require_invoice=_flag(settings.get("require_invoice"), True),
            void_statuses=_words(settings.get("void_statuses"), ("canceled",)),
            b2b_payment_methods=_words(settings.get("b2b_payment_methods"), ()),
            payment_terms_days=max(0, terms),
            invoice_paid_is_payment=_flag(settings.get("invoice_paid_is_payment"), False),
            payment_method_names=names,
        )

    def method_name(self, code: str) -> str:
        """The stable tender method name for a Magento payment method code."""
        return self.payment_method_names.get(code, code or "unknown")

    def is_b2b(self, method_code: str) -> bool:
        """Whether orders paid with this method are invoices on credit."""
        return method_code.lower() in self.b2b_payment_methods
