"""The inbox (InboundEvent) and canonical transactions with their lines."""

from __future__ import annotations

import uuid

from django.db import models

from integrator.choices import EventStatus, TransactionKind, TransactionStatus
from integrator.models.fields import money_field

__all__ = [
    "InboundEvent",
    "Transaction",
    "TransactionDiscount",
    "TransactionLine",
    "TransactionPayment",
    "TransactionTaxLine",
]


class InboundEvent(models.Model):
    """The inbox: one row per distinct vendor event (webhook, pulled record or imported file row).

    UNIQUE(channel, dedupe_key) makes delivery idempotent: the vendor's retries and our own
    back-fills land on the same row. The raw body is kept for audit and re-processing.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.ForeignKey("integrator.Channel", on_delete=models.PROTECT, related_name="events")
    dedupe_key = models.CharField(max_length=200)
    event_type = models.CharField(max_length=80)
    source = models.CharField(
        max_length=10, choices=[("webhook", "Webhook"), ("pull", "Pull"), ("file", "File")], default="webhook"
    )
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=12, choices=EventStatus.choices, default=EventStatus.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    deliveries = models.PositiveIntegerField(default=1, help_text="How many times the vendor sent it.")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    #: A worker processing a batch of events claims them first (issue 19), so two workers never
    #: parse the same rows at once; the claim lapses at ``claimed_until`` (a worker that died
    #: leaves its events ``received``, and the sweep processes them one by one).
    claimed_by = models.CharField(max_length=64, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "dedupe_key"], name="uniq_inbound_event"),
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="inbound_status_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.dedupe_key}"


class Transaction(models.Model):
    """A canonical document (sale, refund, payment, payout, invoice, dispute) of a channel.

    Upserted by (channel, kind, external_id); ``revision`` grows when the vendor changes the
    document, and ``document`` holds the current canonical JSON (``integrator.canonical``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.ForeignKey("integrator.Channel", on_delete=models.PROTECT, related_name="transactions")
    kind = models.CharField(max_length=10, choices=TransactionKind.choices)
    external_id = models.CharField(max_length=120)
    number = models.CharField(
        max_length=120, blank=True, help_text="Order or document number shown to people."
    )
    revision = models.PositiveIntegerField(default=1)
    content_hash = models.CharField(max_length=64)
    status = models.CharField(
        max_length=16, choices=TransactionStatus.choices, default=TransactionStatus.RECEIVED
    )
    status_reasons = models.JSONField(default=list, blank=True)
    occurred_at = models.DateTimeField(db_index=True)
    business_date = models.DateField(db_index=True, help_text="The day in the channel's time zone.")
    currency = models.CharField(max_length=3)
    total = money_field()
    tax_total = money_field(default=0)
    document = models.JSONField()
    sale = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        help_text="For a refund: the sale it refunds.",
    )
    events = models.ManyToManyField(InboundEvent, related_name="transactions", blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "kind", "external_id"], name="uniq_transaction"),
        ]
        indexes = [models.Index(fields=["status", "business_date"], name="txn_status_date_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.number or self.external_id}"


class TransactionLine(models.Model):
    """A product line of the current revision."""

    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField()
    line_id = models.CharField(max_length=120, blank=True)
    sku = models.CharField(max_length=80, blank=True)
    name = models.CharField(max_length=255)
    category = models.CharField(max_length=80, blank=True)
    kind = models.CharField(max_length=12, default="product")
    quantity = models.DecimalField(max_digits=14, decimal_places=4)
    unit_price = money_field()
    discount = money_field(default=0)
    tax = money_field(default=0)

    class Meta:
        ordering = ["transaction", "position"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku or self.name}"


class TransactionTaxLine(models.Model):
    """A tax charged on the transaction, totalled per title and rate."""

    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="tax_lines")
    title = models.CharField(max_length=120)
    rate = models.DecimalField(max_digits=9, decimal_places=6)
    amount = money_field()

    def __str__(self) -> str:
        return f"{self.title} {self.amount}"


class TransactionDiscount(models.Model):
    """A discount code applied to the transaction (for information; amounts sit on the lines)."""

    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="discounts")
    code = models.CharField(max_length=120)
    amount = money_field()
    target = models.CharField(max_length=10, default="order")

    def __str__(self) -> str:
        return f"{self.code} {self.amount}"


class TransactionPayment(models.Model):
    """A tender of the transaction (card, cash, gift card redemption)."""

    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="payments")
    method = models.CharField(max_length=60)
    gateway = models.CharField(max_length=60, blank=True)
    kind = models.CharField(max_length=12, default="payment")
    amount = money_field()
    fee = money_field(default=0)
    reference = models.CharField(max_length=120, blank=True)

    def __str__(self) -> str:
        return f"{self.method} {self.amount}"
