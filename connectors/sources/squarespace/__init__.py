"""Squarespace Commerce as a sales source: order notifications, the Orders and Transactions APIs.

Decisions, and why:

* **Signature**: ``Squarespace-Signature`` is the hex HMAC-SHA256 of the raw body; the key is the
  subscription's ``secret`` *hex-decoded* (``bytes.fromhex``), not its text. Every secret of the
  channel may match (rotation), compared in constant time.
* **Identity**: the notification's ``id`` is kept across Squarespace's retries (48 hours of them):
  it is the dedupe key. Pulled orders are keyed on the order's and its Document's modification
  times; a notification and a pulled copy of the same order both become the same Sale
  (``external_id`` = the order id) and the same Refunds (the Transactions API's refund ids).
* **Notifications carry only ``data.orderId``** (``order.create``; ``order.update`` with
  ``data.update`` FULFILLED, REFUNDED, CANCELED...). ``parse_event`` fetches the order
  (``GET /1.0/commerce/orders/{id}``) and its transactions Document, which the Transactions API
  cannot look up by order: the Documents modified around the order's last change are read until
  the one with the order's ``salesOrderId``.
* **Money** comes from the Document: payments and their processing fees (on the tenders), refunds,
  per-line discounts and taxes (see :mod:`.documents`).
* **Pulls** read both APIs over ``modifiedAfter``/``modifiedBefore`` with their cursors, within 300
  requests a minute (a 429 cools the caller down for a minute, without ``Retry-After``), and a
  scheduled pull every 30 minutes keeps a site complete even without webhooks (subscribing to
  webhooks needs an OAuth application; an API key alone cannot).
"""

from __future__ import annotations

from .source import ORDER_TOPICS, SIGNATURE_HEADER, SquarespaceSource, sign

__all__ = ["ORDER_TOPICS", "SIGNATURE_HEADER", "SquarespaceSource", "sign"]
