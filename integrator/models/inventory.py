"""Stock, import shipments with their landed costs, counts, reorder suggestions and purchase orders.

Quantities are physical and kept per location (:class:`StockLevel`); value is kept per product in
the books of one ledger connection (:class:`CostPool`, in its functional currency), because cost
is a property of the goods, not of the shelf they sit on. Every change of either is a
:class:`StockMovement` with a unique key, so nothing moves twice.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from integrator.models.fields import money_field

__all__ = [
    "CostAllocation",
    "CostPool",
    "InventoryBook",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "ReorderSuggestion",
    "Shipment",
    "ShipmentCost",
    "ShipmentLine",
    "StockCount",
    "StockCountLine",
    "StockLevel",
    "StockMovement",
    "Supplier",
]


def quantity_field(**kwargs: object) -> models.DecimalField:
    """A quantity column (4 decimal places: kilograms to the gram, metres to the millimetre)."""
    return models.DecimalField(max_digits=14, decimal_places=4, **kwargs)  # type: ignore[arg-type]


class InventoryBook(models.Model):
    """The accounts stock is booked to in one ledger: inventory, cost of goods sold, stock
        adjustments (counts, write-offs), recoverable import VAT, supplier payables and the clearing
        account of costs paid through an agent or customs broker. Entries of its own (receipts, late
    costs, counts) are journaled under ``channel`` (every journal entry belongs to a channel)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    connection = models.OneToOneField(
        "integrator.LedgerConnection", on_delete=models.CASCADE, related_name="inventory_book"
    )
    channel = models.ForeignKey(
        "integrator.Channel",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The channel whose journal carries the book's own entries (receipts, counts, late costs).",
    )
    inventory_account = models.ForeignKey(
        "integrator.LedgerAccount", on_delete=models.PROTECT, related_name="+"
    )
    cogs_account = models.ForeignKey("integrator.LedgerAccount", on_delete=models.PROTECT, related_name="+")
    adjustments_account = models.ForeignKey(
        "integrator.LedgerAccount", on_delete=models.PROTECT, related_name="+"
    )
    import_vat_account = models.ForeignKey(
        "integrator.LedgerAccount", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    payables_account = models.ForeignKey(
        "integrator.LedgerAccount", on_delete=models.PROTECT, related_name="+"
    )
    clearing_account = models.ForeignKey(
        "integrator.LedgerAccount", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    default_location = models.CharField(max_length=80, default="main")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Inventory book of {self.connection}"


class Supplier(models.Model):
    """Who we buy from: the currency of their invoices and how long their goods take to arrive."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    country = models.CharField(max_length=2, blank=True)
    currency = models.CharField(max_length=3)
    lead_time_days = models.PositiveIntegerField(default=30)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CostPool(models.Model):
    """A product's costed stock in one inventory book: quantity, value and the receipt lots
    (``state``, see :mod:`integrator.services.inventory.costing`). Locked with SELECT FOR UPDATE
    by every movement, so concurrent sales cost one after the other."""

    book = models.ForeignKey(InventoryBook, on_delete=models.CASCADE, related_name="pools")
    product = models.ForeignKey("integrator.Product", on_delete=models.PROTECT, related_name="cost_pools")
    quantity = quantity_field(default=0)
    value = money_field(default=0)
    state = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["book", "product"], name="uniq_cost_pool")]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.quantity} worth {self.value}"


class StockLevel(models.Model):
    """Units of a product at a location, with the reorder point there (the product's unless set)
    and the breach counter of the threshold trigger: ``breach`` grows each time the level falls
    below its reorder point, ``below`` says it is below now."""

    product = models.ForeignKey("integrator.Product", on_delete=models.PROTECT, related_name="stock_levels")
    location = models.CharField(max_length=80, default="main")
    quantity = quantity_field(default=0)
    reorder_point = quantity_field(null=True, blank=True)
    source_quantity = quantity_field(
        null=True, blank=True, help_text="What the sales source says it holds (last read)."
    )
    source_read_at = models.DateTimeField(null=True, blank=True)
    below = models.BooleanField(default=False)
    breach = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product", "location"]
        constraints = [models.UniqueConstraint(fields=["product", "location"], name="uniq_stock_level")]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.location}: {self.quantity}"


class Shipment(models.Model):
    """An import: a supplier's invoice (lines in its currency, at ``invoice_rate`` functional units
    per unit, or the rate table's when blank) and its costs. Received once; costs entered after
    receipt are late costs."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RECEIVED = "received", "Received"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    book = models.ForeignKey(InventoryBook, on_delete=models.PROTECT, related_name="shipments")
    reference = models.CharField(max_length=120)
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="shipments")
    currency = models.CharField(max_length=3)
    invoice_number = models.CharField(max_length=120, blank=True)
    invoice_date = models.DateField()
    invoice_rate = models.DecimalField(max_digits=24, decimal_places=12, null=True, blank=True)
    location = models.CharField(max_length=80, default="main")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    received_on = models.DateField(null=True, blank=True)
    entry = models.ForeignKey(
        "integrator.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-invoice_date", "reference"]
        constraints = [models.UniqueConstraint(fields=["book", "reference"], name="uniq_shipment_reference")]

    def __str__(self) -> str:
        return self.reference


class ShipmentLine(models.Model):
    """A supplier invoice line; ``unit_weight``/``unit_volume`` default to the product's. The
    landed figures are set on receipt (functional currency)."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    product = models.ForeignKey("integrator.Product", on_delete=models.PROTECT, related_name="+")
    quantity = quantity_field()
    unit_price = models.DecimalField(max_digits=18, decimal_places=6)
    unit_weight = quantity_field(null=True, blank=True)
    unit_volume = quantity_field(null=True, blank=True)
    goods_value = money_field(null=True, blank=True, help_text="Invoice value in the functional currency.")
    landed_value = money_field(null=True, blank=True)
    landed_unit_cost = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)

    class Meta:
        ordering = ["shipment", "position", "id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"


class ShipmentCost(models.Model):
    """A cost of a shipment in its own currency and rate (``rate``: functional units per unit; the
    rate table's when blank), allocated to the lines by value, quantity, weight or volume. Import
    VAT is recoverable and never part of stock cost."""

    class Kind(models.TextChoices):
        FREIGHT = "freight", "Freight"
        INSURANCE = "insurance", "Insurance"
        DUTY = "duty", "Customs duty"
        CLEARING = "clearing", "Clearing and agency fees"
        PORT = "port", "Port and handling fees"
        IMPORT_VAT = "import_vat", "Import VAT (recoverable)"
        OTHER = "other", "Other"

    class Basis(models.TextChoices):
        VALUE = "value", "By value"
        QUANTITY = "quantity", "By quantity"
        WEIGHT = "weight", "By weight"
        VOLUME = "volume", "By volume"

    class PaidThrough(models.TextChoices):
        PAYABLES = "payables", "Supplier payables"
        CLEARING = "clearing", "Clearing agent account"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="costs")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    description = models.CharField(max_length=200, blank=True)
    currency = models.CharField(max_length=3)
    amount = money_field()
    rate = models.DecimalField(max_digits=24, decimal_places=12, null=True, blank=True)
    basis = models.CharField(max_length=10, choices=Basis.choices, default=Basis.VALUE)
    paid_through = models.CharField(max_length=10, choices=PaidThrough.choices, default=PaidThrough.PAYABLES)
    invoice_date = models.DateField(null=True, blank=True)
    functional_amount = money_field(null=True, blank=True)
    late = models.BooleanField(default=False, help_text="Entered after the shipment was received.")
    entry = models.ForeignKey(
        "integrator.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["shipment", "created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency}"


class CostAllocation(models.Model):
    """The share of a cost one line carries (functional currency); for a late cost, how much of
    it went to stock and how much was expensed because the goods were already sold."""

    cost = models.ForeignKey(ShipmentCost, on_delete=models.CASCADE, related_name="allocations")
    line = models.ForeignKey(ShipmentLine, on_delete=models.CASCADE, related_name="allocations")
    amount = money_field()
    capitalised = money_field(default=0)
    expensed = money_field(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cost", "line"], name="uniq_cost_allocation")]

    def __str__(self) -> str:
        return f"{self.amount} to line {self.line_id}"


class StockMovement(models.Model):
    """One change of stock: ``quantity`` signed (in +, out -), ``value`` signed change of stock
    value, ``cogs`` cost expensed with it (sale cost, oversold correction, late cost share sold).
    ``key`` is unique: a sale line moves once per revision (``txn/<id>/r<rev>/<line>``), a
    shipment line once (``ship/<line>``); a revised document reverses its older movements first."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        SALE = "sale", "Sale"
        RETURN = "return", "Return to stock"
        WRITE_OFF = "write_off", "Write-off"
        ADJUSTMENT = "adjustment", "Adjustment"
        TRANSFER = "transfer", "Transfer"
        COUNT = "count", "Count"
        LATE_COST = "late_cost", "Late cost"
        REVERSAL = "reversal", "Reversal"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    product = models.ForeignKey("integrator.Product", on_delete=models.PROTECT, related_name="movements")
    location = models.CharField(max_length=80, default="main")
    book = models.ForeignKey(InventoryBook, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    date = models.DateField(db_index=True)
    quantity = quantity_field()
    value = money_field(default=0)
    cogs = money_field(default=0)
    transaction = models.ForeignKey(
        "integrator.Transaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="stock_movements",
    )
    revision = models.PositiveIntegerField(null=True, blank=True)
    shipment_line = models.ForeignKey(
        ShipmentLine, on_delete=models.PROTECT, null=True, blank=True, related_name="movements"
    )
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-date", "-created_at"]
        indexes = [models.Index(fields=["product", "date"], name="stock_move_product_date")]

    def __str__(self) -> str:
        return f"{self.kind} {self.quantity} {self.product_id}"


class StockCount(models.Model):
    """A stock take at a location; applying it adjusts each level to what was counted."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    location = models.CharField(max_length=80, default="main")
    counted_on = models.DateField()
    applied = models.BooleanField(default=False)
    note = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-counted_on"]

    def __str__(self) -> str:
        return f"Count {self.location} {self.counted_on}"


class StockCountLine(models.Model):
    """A counted product: ``expected`` is the book quantity when the count was applied."""

    count = models.ForeignKey(StockCount, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("integrator.Product", on_delete=models.PROTECT, related_name="+")
    counted = quantity_field()
    expected = quantity_field(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["count", "product"], name="uniq_count_line")]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.counted}"


class PurchaseOrder(models.Model):
    """A purchase order to a supplier (a draft made by the reorder trigger, or by a person)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="purchase_orders")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"PO {self.supplier} {self.created_at:%Y-%m-%d}"


class PurchaseOrderLine(models.Model):
    """A product and quantity on a purchase order."""

    order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("integrator.Product", on_delete=models.PROTECT, related_name="+")
    quantity = quantity_field()

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"


class ReorderSuggestion(models.Model):
    """What the threshold trigger proposes when a level falls below its reorder point: one per
    breach (UNIQUE(level, breach)), with a quantity from recent sales velocity and lead time."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ORDERED = "ordered", "Ordered"
        DISMISSED = "dismissed", "Dismissed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    level = models.ForeignKey(StockLevel, on_delete=models.CASCADE, related_name="suggestions")
    breach = models.PositiveIntegerField()
    quantity = quantity_field()
    level_quantity = quantity_field()
    reorder_point = quantity_field()
    daily_velocity = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.SET_NULL, null=True, blank=True, related_name="suggestions"
    )
    notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["level", "breach"], name="uniq_reorder_breach")]

    def __str__(self) -> str:
        return f"Reorder {self.quantity} of {self.level}"
