"""PayPal as a sales source (see docs/platforms/paypal.md).

Modules: :mod:`.signature` (webhook verification by certificate chain and CRC32, post-back
fallback), :mod:`.api` (OAuth client credentials, errors), :mod:`.payments` (captures, v1 sales,
refunds, reversals), :mod:`.orders` (Checkout orders as sales), :mod:`.disputes`,
:mod:`.invoices`, :mod:`.reporting` (Transaction Search back-fill and transfers to the bank as
payouts), :mod:`.source` (the :class:`PayPalSource` the registry finds).
"""

from .source import HANDLED_EVENT_TYPES, REPORTED_EVENT, PayPalSource

__all__ = ["HANDLED_EVENT_TYPES", "REPORTED_EVENT", "PayPalSource"]
