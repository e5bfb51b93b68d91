"""Magento 2 / Adobe Commerce: polling the sales REST API, Adobe Commerce webhooks where set up.

Decisions, and why:

* **Receiving**: core Magento sends no webhooks, so the scheduler polls ``GET /V1/orders``,
  ``/V1/creditmemos`` (and ``/V1/invoices`` for stores that sell on credit) every 15 minutes
  with ``searchCriteria`` on ``updated_at`` (``gteq`` the last poll less 10 minutes).
  Adobe Commerce stores can also send webhooks (``observer.sales_order_save_after``,
  ``observer.sales_order_creditmemo_save_after``, ``observer.sales_order_invoice_save_after``),
  signed with RSA-SHA256 (``signature.py``); they are answered ``200 {"op": "success"}`` as
  Commerce requires.
* **Identity**: ``<kind>:<entity_id>:<updated_at>`` for pulled records; webhooks (Adobe Commerce
  has no delivery id) add a digest of the body as sent, so a retried delivery is a duplicate and
  a webhook is never mistaken for an older polled version. Every version of an object parses to
  the same ``(kind, external_id)``: webhook, poll and back-fill make one transaction.
* **Workflow**: an order is a sale at the store's sale statuses once fully invoiced, a
  cancelled order a voided sale, anything else nothing yet (``orders.py``; all configurable in
  ``settings.py``).
* **Documents**: orders -> Sale, credit memos -> Refund linked to the order's sale (line,
  shipping-only and amount-only adjustments), invoices of orders sold on credit -> B2B Invoice.
  Amounts are Magento's base-currency twins (the channel's currency) with the order currency as
  presentment and ``base_to_order_rate`` as the stated rate; totals are Magento's to the unit.
* **Payments**: the order's ``payment.method`` is the tender (names in ``settings.py``); gift
  card accounts, store credit and reward points are tenders of their own.
* **Authentication**: an integration (OAuth 1.0a signatures), an integration token as bearer,
  or an admin user's 4-hour token renewed before it expires (``auth.py``).

Assumptions to re-check against a live store (Magento's docs are silent or ambiguous on them):

* a credit memo's ``discount_amount`` includes the shipping discount it gives back;
* ``customer_balance_amount`` and ``gift_cards_amount`` on a credit memo are money credited back
  to store credit and gift card accounts, outside ``grand_total``;
* fixed product tax (``weee_tax_applied_row_amount``) is part of ``grand_total`` and not of
  ``row_total`` (stores that include FPT in the subtotal will show a difference in validation).
"""

from __future__ import annotations

from .source import KINDS, MagentoSource, record_key

__all__ = ["KINDS", "MagentoSource", "record_key"]
