"""The ledger-target layer shared by every accounting connector.

``plan`` turns a PostingDocument into the vendor-neutral document the ledger should hold (sales
document with tax on every line and its settlements, customer payment linked to its invoice, bank
deposit, journal), ``numbers`` gives the number the ledger shows, ``customers`` who the document is
for, and ``readback`` compares what the ledger recorded with our journal. A target renders the plan
in its own terms (connectors/ledgers/quickbooks, connectors/ledgers/xero) and reads documents back
into a :class:`~connectors.base.LedgerView`.
"""

from connectors.ledgers.common.customers import WALK_IN_KEY, CustomerIdentity, customer_identity
from connectors.ledgers.common.numbers import NumberRules, document_number, short_form
from connectors.ledgers.common.plan import (
    BankDeposit,
    CustomerPayment,
    DepositLine,
    JournalLinePlan,
    JournalPlan,
    PlannedDocument,
    PlanOptions,
    SalesDocument,
    SalesLine,
    Settlement,
    TaxTotal,
    allocate,
    deposit_as_journal,
    plan_document,
)
from connectors.ledgers.common.readback import compare_views, expected_view, make_view

__all__ = [
    "WALK_IN_KEY",
    "BankDeposit",
    "CustomerIdentity",
    "CustomerPayment",
    "DepositLine",
    "JournalLinePlan",
    "JournalPlan",
    "NumberRules",
    "PlanOptions",
    "PlannedDocument",
    "SalesDocument",
    "SalesLine",
    "Settlement",
    "TaxTotal",
    "allocate",
    "compare_views",
    "customer_identity",
    "deposit_as_journal",
    "document_number",
    "expected_view",
    "make_view",
    "plan_document",
    "short_form",
]
