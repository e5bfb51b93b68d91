"""WooCommerce as a sales source: signed webhooks, the creation ping, REST back-fill, completeness pulls.

Decisions, and why:

* **Signature**: ``X-WC-Webhook-Signature`` is the base64 HMAC-SHA256 of the body exactly as sent
  (no timestamp). Every secret of the channel may match (rotation), compared in constant time.
* **Identity**: the delivery id (``X-WC-Webhook-Delivery-ID``) is a hash of the hook id and the
  time, new on every delivery, so it cannot dedupe. An order revision is keyed on its id and
  ``date_modified_gmt`` (plus a digest of status, total and refunds for changes within one second):
  a pulled copy of the same revision gets the same key, so a late webhook after a pull is a
  duplicate at the inbox.
* **The ping** WooCommerce posts when a hook is created (form body ``webhook_id=<n>``, unsigned) is a
  handshake: answered 200, its hook id kept on the channel, never an event.
* **No retries from WooCommerce**: it never re-sends a failed delivery and disables a hook after more
  than five failures in a row. ``scheduled_pull_minutes = 15`` makes the scheduler pull the channel
  every quarter of an hour from its last pull (less 10 minutes of overlap); the inbox makes the
  overlap harmless. A hook that was disabled for an hour therefore loses nothing.
* **What is a sale** follows the store's workflow: statuses in ``sale_statuses`` (processing and
  completed by default) and ``refunded``; a paid order later cancelled or binned becomes a voided
  sale (undoing its booking) unless refunds record the money going back.
* **Refunds** arrive as ``order.updated`` (WooCommerce bumps the order's ``date_modified``); the order
  only lists ``{id, total}`` per refund, so each is read from ``/orders/<id>/refunds``: line,
  shipping-only and amount-only refunds, with ``restock``.
* **Amounts** are WooCommerce's own: net line totals and per-rate rounded taxes (see
  :mod:`.orders` and :mod:`.taxes`); documents are in the order's currency, with the rate
  WooPayments multi-currency states.
"""

from __future__ import annotations

from .source import ORDER_TOPICS, WooCommerceSource, order_revision_key, sign

__all__ = ["ORDER_TOPICS", "WooCommerceSource", "order_revision_key", "sign"]
