"""Ledger connections and what we know of each ledger: accounts, tax codes, products."""

from __future__ import annotations

import uuid
from datetime import date

from django.db import models

from integrator.choices import AccountType, LockPolicy
from integrator.crypto import EncryptedJSONField

__all__ = ["LedgerAccount", "LedgerConnection", "LedgerRef", "Product", "TaxCode"]


class LedgerConnection(models.Model):
    """One accounting system the integrator posts to (QuickBooks realm, Xero tenant, or the
    built-in ledger). Holds encrypted credentials, the functional currency, our own lock date and
    the ledger's, and the policy for documents dated in a closed period."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    platform = models.CharField(max_length=40, help_text="Connector slug, e.g. builtin, quickbooks, xero.")
    name = models.CharField(max_length=120)
    functional_currency = models.CharField(max_length=3)
    base_url = models.URLField(blank=True)
    credentials = EncryptedJSONField(null=True, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    lock_date = models.DateField(null=True, blank=True, help_text="Our own books-closed date.")
    remote_lock_date = models.DateField(
        null=True, blank=True, help_text="The ledger's lock date, as last read."
    )
    lock_policy = models.CharField(max_length=10, choices=LockPolicy.choices, default=LockPolicy.HOLD)
    needs_reauth = models.BooleanField(default=False)
    circuit_failures = models.PositiveIntegerField(
        default=0, help_text="Consecutive transient failures (5xx, unreachable) of this ledger."
    )
    circuit_open_until = models.DateTimeField(
        null=True, blank=True, help_text="While in the future, postings wait (one probe per period)."
    )
    active = models.BooleanField(default=True)
    archived_at = models.DateTimeField(null=True, blank=True, help_text="Archived: kept for history only.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def effective_lock_date(self) -> date | None:
        """The later of our lock date and the ledger's: documents on or before it are refused."""
        dates = [d for d in (self.lock_date, self.remote_lock_date) if d]
        return max(dates) if dates else None


class LedgerAccount(models.Model):
    """An account of a ledger connection's chart of accounts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.ForeignKey(LedgerConnection, on_delete=models.CASCADE, related_name="accounts")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=12, choices=AccountType.choices)
    remote_id = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection", "code"]
        constraints = [models.UniqueConstraint(fields=["connection", "code"], name="uniq_account_code")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class TaxCode(models.Model):
    """A ledger tax code with its rate (a fraction: 0.15 for 15 %)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.ForeignKey(LedgerConnection, on_delete=models.CASCADE, related_name="tax_codes")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    rate = models.DecimalField(max_digits=9, decimal_places=6)
    remote_id = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection", "code"]
        constraints = [models.UniqueConstraint(fields=["connection", "code"], name="uniq_tax_code")]

    def __str__(self) -> str:
        return f"{self.code} ({self.rate:%})"


class Product(models.Model):
    """A product we sell, by SKU; ``category`` drives category-level mapping rules."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sku = models.CharField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=80, blank=True)
    # Stock (issue 12): what the inventory and the reorder trigger need to know of a product.
    unit = models.CharField(max_length=12, default="each", help_text="Unit of measure: each, kg, m ...")
    track_stock = models.BooleanField(default=False, help_text="Keep stock and book cost of goods sold.")
    costing_method = models.CharField(
        max_length=8, choices=[("average", "Moving weighted average"), ("fifo", "FIFO")], default="average"
    )
    reorder_point = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    minimum_order = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    lead_time_days = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: the supplier's.")
    unit_weight = models.DecimalField(max_digits=14, decimal_places=4, default=0, help_text="kg per unit")
    unit_volume = models.DecimalField(max_digits=14, decimal_places=4, default=0, help_text="m³ per unit")
    tax_class = models.CharField(max_length=20, default="standard")
    supplier = models.ForeignKey(
        "integrator.Supplier", on_delete=models.SET_NULL, null=True, blank=True, related_name="products"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class LedgerRef(models.Model):
    """An id the ledger gave to something of ours: the customer made for a source's customer, the
    item made for an income account. The ledger connector finds or creates the object once and
    keeps its id here (through :class:`integrator.services.ledger_refs.DbRefStore`)."""

    connection = models.ForeignKey(LedgerConnection, on_delete=models.CASCADE, related_name="refs")
    kind = models.CharField(max_length=20)
    key = models.CharField(max_length=200)
    remote_id = models.CharField(max_length=120)
    label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["connection", "kind", "key"]
        constraints = [models.UniqueConstraint(fields=["connection", "kind", "key"], name="uniq_ledger_ref")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} -> {self.remote_id}"
