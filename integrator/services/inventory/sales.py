"""What sales and refunds on the spine do to stock, and their cost of goods sold.

:func:`book_stock` is called through the spine's hook (:mod:`.spine`) once a transaction's lines
are drafted. For a ledger with an inventory book and products that track
stock, it:

1. reverses the stock movements of the transaction's older revisions (a revised document moves
   again from scratch; nothing moves twice: keys are ``txn/<id>/r<revision>/<line>``);
2. issues the units of a sale or invoice at cost (a voided one issues nothing);
3. puts back the units of a refund that the source says were restocked (Shopify's
   ``restock_type``, a generic refund line's ``restock``, else the refund's ``restock``), at the
   cost the sale took them out at;
4. journals what moved as a separate entry beside the document's (``<reference>/cogs``):
   ``Dr COGS / Cr inventory`` for a sale, the mirror for a return. Per transaction it is posted
   through the outbox at once; in daily-summary mode the day's summary carries it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from integrator.canonical import CanonicalDocument, Invoice, LineItem, Refund, Sale
from integrator.choices import EntryKind, PostingMode, RuleKind
from integrator.models import InventoryBook, JournalEntry, Product, StockMovement, Transaction
from integrator.services.inventory import stock
from integrator.services.inventory.books import Leg
from integrator.services.journal import create_entry
from integrator.services.mappings import RuleBook
from integrator.services.posting import create_posting
from integrator.services.transactions import VOID_STATUSES

__all__ = ["book_stock", "books_remembered", "cogs_reference", "keeps_stock", "restocked"]

ZERO = Decimal(0)
Kind = StockMovement.Kind


#: The inventory book of each ledger connection, remembered while a batch of transactions is
#: journaled in one database transaction (:func:`books_remembered`); None outside a batch.
_BOOKS: contextvars.ContextVar[dict[Any, InventoryBook | None] | None] = contextvars.ContextVar(
    "inventory_books", default=None
)


@contextlib.contextmanager
def books_remembered() -> Iterator[None]:
    """Read each connection's inventory book once for the block (a batch journaled in one database
    transaction, where the books cannot change under it) instead of once per transaction."""
    token = _BOOKS.set({})
    try:
        yield
    finally:
        _BOOKS.reset(token)


def _inventory_book(connection: Any) -> InventoryBook | None:
    """The connection's inventory book (None: the ledger keeps no stock)."""
    remembered = _BOOKS.get()
    if remembered is not None and connection.pk in remembered:
        return remembered[connection.pk]
    book = InventoryBook.objects.select_related("connection").filter(connection=connection).first()
    if remembered is not None:
        remembered[connection.pk] = book
    return book


def keeps_stock(connection: Any) -> bool:
    """Whether the connection's ledger keeps stock (has an inventory book); remembered like
    :func:`_inventory_book` inside :func:`books_remembered`."""
    return connection is not None and _inventory_book(connection) is not None


def cogs_reference(txn: Transaction) -> str:
    """The reference of a transaction revision's COGS entry (beside its own entry's)."""
    base = f"{txn.channel.slug}/{txn.kind}/{txn.external_id}"
    return (base if txn.revision == 1 else f"{base}/r{txn.revision}") + "/cogs"


def restocked(doc: Refund, line: LineItem) -> bool:
    """Whether a refunded line's goods went back to stock, as the source says."""
    return line.restock if line.restock is not None else bool(doc.restock)


def _tracked(lines: tuple[LineItem, ...]) -> dict[str, Product]:
    skus = {ln.sku for ln in lines if ln.sku and ln.kind == "product"}
    return {p.sku: p for p in Product.objects.filter(sku__in=skus, track_stock=True)}


def _sold_unit_cost(txn: Transaction, product: Product) -> Decimal | None:
    """The unit cost at which the refunded sale took the product out of stock."""
    if txn.sale_id is None:
        return None
    moved = StockMovement.objects.filter(
        transaction_id=txn.sale_id, product=product, kind=Kind.SALE, reversed_by__isnull=True
    ).values_list("quantity", "value")
    quantity = sum((q for q, _ in moved), ZERO)
    value = sum((v for _, v in moved), ZERO)
    return value / quantity if quantity else None


def book_stock(txn: Transaction, doc: CanonicalDocument, book: RuleBook) -> list[StockMovement]:
    """Move stock for the transaction's current revision and journal its COGS (see the module);
    returns the movements made."""
    connection = txn.channel.ledger_connection
    inventory = _inventory_book(connection) if connection is not None else None
    if inventory is None:
        return []
    on = txn.business_date
    moved: list[StockMovement] = []
    older = StockMovement.objects.filter(
        transaction=txn,
        revision__lt=txn.revision,
        kind__in=[Kind.SALE, Kind.RETURN],
        reversed_by__isnull=True,
    ).select_related("product", "book")
    for movement in older:
        result = stock.reverse_movement(movement, on=on, note=f"revision {txn.revision} replaces it")
        if result.made:
            moved.append(result.movement)
    location = str(getattr(doc, "location", "") or "") or inventory.default_location
    prefix = f"txn/{txn.pk}/r{txn.revision}"
    if isinstance(doc, Sale | Invoice) and str(doc.status).lower() not in VOID_STATUSES:
        products = _tracked(doc.lines)
        for i, ln in enumerate(doc.lines):
            product = products.get(ln.sku)
            if product is None or ln.quantity <= 0:
                continue
            result = stock.issue_stock(inventory, product, location, ln.quantity, key=f"{prefix}/{i}", on=on,
                                       transaction=txn, revision=txn.revision)  # fmt: skip
            if result.made:
                moved.append(result.movement)
    elif isinstance(doc, Refund):
        products = _tracked(doc.lines)
        for i, ln in enumerate(doc.lines):
            product = products.get(ln.sku)
            if product is None or ln.quantity <= 0 or not restocked(doc, ln):
                continue
            unit = _sold_unit_cost(txn, product)
            if unit is None:
                _, pool = stock.locked_pool(inventory, product)
                unit = pool.unit_cost()
            result = stock.receive_stock(inventory, product, location, ln.quantity, ln.quantity * unit,
                                         key=f"{prefix}/{i}", kind=Kind.RETURN, on=on, transaction=txn,
                                         revision=txn.revision, note="Returned to stock")  # fmt: skip
            if result.made:
                moved.append(result.movement)
    if moved:
        _cogs_entry(txn, inventory, book, moved)
    return moved


def _cogs_entry(
    txn: Transaction, inventory: InventoryBook, book: RuleBook, moved: list[StockMovement]
) -> None:
    """Journal what moved: the COGS account mapped for the SKU or category (the inventory book's
    otherwise) against the inventory account."""
    legs: list[Leg] = []
    for m in moved:
        rule = book.find(RuleKind.COGS, sku=m.product.sku, category=m.product.category)
        cogs_account = rule.account_id if rule else inventory.cogs_account_id
        what = f"{m.product.sku} x {abs(m.quantity)}"
        legs.append((cogs_account, m.cogs, "", m.cogs, "cogs", f"Cost of goods {what}"))
        legs.append((inventory.inventory_account_id, m.value, "", m.value, "inventory", f"Stock {what}"))
    sums: dict[tuple[Any, str, str], Decimal] = {}
    for account, amount, _, _, role, description in legs:
        key = (account, role, description)
        sums[key] = sums.get(key, ZERO) + amount
    specs = [
        {"amount": amount, "account_id": account, "role": role, "description": description[:255]}
        for (account, role, description), amount in sums.items()
        if amount
    ]
    if not specs:
        return
    channel = txn.channel
    functional = inventory.connection.functional_currency
    reference = cogs_reference(txn)
    if JournalEntry.objects.filter(connection=inventory.connection, reference=reference).exists():
        return
    entry = create_entry(
        line_specs=specs,
        reference=reference,
        date=txn.business_date,
        currency=functional,
        memo=f"Cost of goods: {channel.name} {txn.kind} {txn.number or txn.external_id}",
        channel_id=channel.pk,
        connection_id=inventory.connection_id,
        kind=EntryKind.MANUAL,
        txn=txn,
        number=f"{(txn.number or txn.external_id)[:100]}-COGS",
        functional_currency=functional,
    )
    if channel.posting_mode == PostingMode.PER_TRANSACTION:
        create_posting(entry)
