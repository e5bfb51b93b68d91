"""Stripe (payment gateway) as a sales source.

* ``signature`` - ``Stripe-Signature`` verification (HMAC-SHA256, any v1, any secret, 300 s both ways).
* ``amounts`` - Stripe's smallest units, including where Stripe and ISO 4217 disagree (ISK, MGA).
* ``api`` - read-only API client over ``VendorHTTP`` (Bearer secret key, 100 req/s, cursor lists).
* ``documents`` - charges, intents, refunds, disputes and payouts -> canonical documents.
* ``source`` - :class:`StripeSource`, the registry entry for platform ``"stripe"``.
"""

from .source import EVENTS_RETENTION, HANDLED_EVENT_TYPES, StripeSource

__all__ = ["EVENTS_RETENTION", "HANDLED_EVENT_TYPES", "StripeSource"]
