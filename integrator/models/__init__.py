"""Models of the core domain, one module per sub-domain."""

from integrator.models.alerts import Alert, AlertPreference
from integrator.models.audit import AuditEvent, IntegrationCall
from integrator.models.books import BookEntry, BookLine
from integrator.models.channels import Channel
from integrator.models.closing import PeriodClose
from integrator.models.inventory import (
    CostAllocation,
    CostPool,
    InventoryBook,
    PurchaseOrder,
    PurchaseOrderLine,
    ReorderSuggestion,
    Shipment,
    ShipmentCost,
    ShipmentLine,
    StockCount,
    StockCountLine,
    StockLevel,
    StockMovement,
    Supplier,
)
from integrator.models.jobs import Job, Wakeup
from integrator.models.journal import JournalEntry, JournalLine
from integrator.models.ledger import LedgerAccount, LedgerConnection, LedgerRef, Product, TaxCode
from integrator.models.mapping_changes import (
    MappingChangeItem,
    MappingChangeRequest,
    MappingChangeTarget,
    RepostRequest,
    RepostResult,
)
from integrator.models.mappings import MappingRule, MappingSet, MappingVersion
from integrator.models.posting import Posting, PostingAttempt
from integrator.models.rates import ExchangeRate
from integrator.models.tax import TaxCheck, TaxComponent, TaxRule
from integrator.models.transactions import (
    InboundEvent,
    Transaction,
    TransactionDiscount,
    TransactionLine,
    TransactionPayment,
    TransactionTaxLine,
)

__all__ = [
    "Alert",
    "AlertPreference",
    "AuditEvent",
    "BookEntry",
    "BookLine",
    "Channel",
    "CostAllocation",
    "CostPool",
    "ExchangeRate",
    "InboundEvent",
    "IntegrationCall",
    "InventoryBook",
    "Job",
    "JournalEntry",
    "JournalLine",
    "LedgerAccount",
    "LedgerConnection",
    "LedgerRef",
    "MappingChangeItem",
    "MappingChangeRequest",
    "MappingChangeTarget",
    "MappingRule",
    "MappingSet",
    "MappingVersion",
    "PeriodClose",
    "Posting",
    "PostingAttempt",
    "Product",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "ReorderSuggestion",
    "RepostRequest",
    "RepostResult",
    "Shipment",
    "ShipmentCost",
    "ShipmentLine",
    "StockCount",
    "StockCountLine",
    "StockLevel",
    "StockMovement",
    "Supplier",
    "TaxCheck",
    "TaxCode",
    "TaxComponent",
    "TaxRule",
    "Transaction",
    "TransactionDiscount",
    "TransactionLine",
    "TransactionPayment",
    "TransactionTaxLine",
    "Wakeup",
]
