"""Models of the core domain, one module per sub-domain."""

from integrator.models.alerts import Alert, AlertPreference
from integrator.models.audit import AuditEvent, IntegrationCall
from integrator.models.books import BookEntry, BookLine
from integrator.models.channels import Channel
from integrator.models.closing import PeriodClose
from integrator.models.jobs import Job
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
    "ExchangeRate",
    "InboundEvent",
    "IntegrationCall",
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
    "RepostRequest",
    "RepostResult",
    "TaxCode",
    "Transaction",
    "TransactionDiscount",
    "TransactionLine",
    "TransactionPayment",
    "TransactionTaxLine",
]
