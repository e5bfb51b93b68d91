"""Shopify: signed webhooks, REST back-fill of orders, Shopify Payments payouts.

Decisions, and why:

* **Signature**: ``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256 of the raw body; every secret of
  the channel is accepted (current and, during a rotation window, previous) and compared in constant
  time.
* **Identity**: the dedupe key is ``X-Shopify-Event-Id`` (a re-delivery of the same event keeps it;
  ``X-Shopify-Webhook-Id`` is the fallback and is kept in ``extra``). Pulled orders use
  ``order:<id>:<updated_at>`` with event type ``orders/updated``, so a pulled order and a webhook
  for it parse to the same ``(kind, external_id)`` and end in one Transaction.
* **What is a sale**: only paid orders (``paid``, ``partially_paid``, ``partially_refunded``,
  ``refunded``). Pending or authorised orders give ``[]`` until they are paid, so a cancelled order
  that was never paid produces nothing; a paid order that is cancelled stays a sale and the refund
  Shopify records with the cancellation reverses it.
* **Currency**: documents are in the SHOP currency (``*_set.shop_money``, else the plain fields),
  because that is what Shopify Payments settles and what the books are kept in; the presentment
  currency and total are recorded on the Sale for reference.
* **Refunds** come both from ``refunds/create`` and embedded in any later order event
  (``refunds[]``); both give the same Refund. Shopify's own ``subtotal_set`` and ``total_tax_set``
  are used, never recomputed.
* **Tenders**: from the order's transactions when present; otherwise the single gateway pays the
  whole total; an order paid through several gateways (gift card + card) has its transactions
  fetched to split the amounts.
* **Tips** (``total_tip_received``) are part of ``total_price``; a "Tip" line item is not a product.
* **Payouts** have no REST webhook: ``pull`` lists ``shopify_payments/payouts.json`` and each
  payout's ``balance/transactions.json?payout_id=`` as a record of event type ``payout``.
* **Rate limits**: 2 requests/s per connection (Shopify's leak rate), a pause when
  ``X-Shopify-Shop-Api-Call-Limit`` shows the shared bucket nearly full, and a 429 is retried after
  its ``Retry-After`` (up to :attr:`ShopifySource.rate_limit_retries` times, then RateLimited).

Assumptions to re-check against a live shop (Shopify's docs are silent or ambiguous on them):

* a refund line's ``subtotal_set`` includes tax when the order's ``taxes_included`` is true;
* ``order_adjustments`` report shipping refunds net of tax (tax in ``tax_amount``) in every shop;
* ``total_discounts`` includes discounts allocated to shipping lines (only tests and metadata use it);
* a checkout tip may appear as a product-less, untaxed line titled "Tip" (see ``orders._is_tip``);
* duties and additional fees (``original_total_*_set``) are booked as fee lines.
"""

from __future__ import annotations

from .source import API_VERSION, ORDER_TOPICS, ShopifySource

__all__ = ["API_VERSION", "ORDER_TOPICS", "ShopifySource"]
