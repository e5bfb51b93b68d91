"""Choices shared by models, services, API and screens."""

from django.db import models

__all__ = [
    "AccountType",
    "AlertKind",
    "AlertSeverity",
    "ChangeAction",
    "ChangeStatus",
    "EntryKind",
    "EventStatus",
    "LockPolicy",
    "MappingVersionStatus",
    "PeriodCloseStatus",
    "PostingMode",
    "PostingState",
    "RateSource",
    "RepostOutcome",
    "RepostStatus",
    "RuleKind",
    "TransactionKind",
    "TransactionStatus",
]


class PostingMode(models.TextChoices):
    """How a channel's sales reach the ledger."""

    PER_TRANSACTION = "per_transaction", "One document per transaction"
    DAILY_SUMMARY = "daily_summary", "One summary per channel-day and currency"


class LockPolicy(models.TextChoices):
    """What happens to a document dated in a closed period."""

    HOLD = "hold", "Hold as an exception for a person"
    MOVE_TO_NEXT_OPEN_DAY = "move", "Post on the first open day, with a note"


class AccountType(models.TextChoices):
    """The five account types of double entry."""

    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    EQUITY = "equity", "Equity"
    REVENUE = "revenue", "Revenue"
    EXPENSE = "expense", "Expense"


class EventStatus(models.TextChoices):
    """Life of an inbound event (inbox row)."""

    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (nothing for the books)"
    FAILED = "failed", "Failed (will be retried)"
    QUARANTINED = "quarantined", "Quarantined (cannot be read)"


class TransactionKind(models.TextChoices):
    """Kinds of canonical documents."""

    SALE = "sale", "Sale"
    REFUND = "refund", "Refund"
    PAYMENT = "payment", "Payment"
    PAYOUT = "payout", "Payout"
    INVOICE = "invoice", "Invoice"
    DISPUTE = "dispute", "Dispute"
    CASH_COUNT = "cash_count", "Cash drawer count"


class TransactionStatus(models.TextChoices):
    """Where a transaction is on the spine."""

    RECEIVED = "received", "Received"
    INVALID = "invalid", "Invalid"
    NEEDS_MAPPING = "needs_mapping", "Needs mapping"
    NEEDS_RATE = "needs_rate", "Needs an exchange rate"
    JOURNALED = "journaled", "Journaled"
    SUMMARISED = "summarised", "Waiting for the daily summary"
    POSTED = "posted", "Posted"
    FAILED = "failed", "Posting failed"


class EntryKind(models.TextChoices):
    """Kinds of journal entries."""

    TRANSACTION = "transaction", "Transaction"
    SUMMARY = "summary", "Daily summary"
    REVERSAL = "reversal", "Reversal"
    MANUAL = "manual", "Manual journal"
    REVALUATION = "revaluation", "Revaluation of foreign-currency balances"


class PostingState(models.TextChoices):
    """The outbox state machine.

    pending -> sending -> posted; sending -> pending (retry later) | uncertain (look up first) |
    dead (dead letter) | held (closed period, needs a person).
    """

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    UNCERTAIN = "uncertain", "Outcome uncertain (will look up)"
    POSTED = "posted", "Posted"
    HELD = "held", "Held (closed period)"
    DEAD = "dead", "Dead letter"


class MappingVersionStatus(models.TextChoices):
    """Life of a mapping version."""

    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class RuleKind(models.TextChoices):
    """What a mapping rule maps."""

    REVENUE = "revenue", "Revenue (product / SKU / category)"
    TAX = "tax", "Tax (rate or title -> tax code and liability account)"
    SHIPPING = "shipping", "Shipping income"
    DISCOUNT = "discount", "Discounts (contra-revenue)"
    GIFT_CARD = "gift_card", "Gift card liability"
    TIP = "tip", "Tips"
    FEE = "fee", "Gateway fees"
    CLEARING = "clearing", "Payment method / gateway clearing"
    RETURNS = "returns", "Refunds and returns"
    ROUNDING = "rounding", "Rounding"
    RECEIVABLE = "receivable", "Accounts receivable"
    BANK = "bank", "Bank (payout deposits)"
    ADJUSTMENT = "adjustment", "Payout adjustments and disputes"
    COGS = "cogs", "Cost of goods sold"
    INVENTORY = "inventory", "Inventory"
    CASH_OVER_SHORT = "cash_over_short", "Cash over and short"
    CASH_FLOAT = "cash_float", "Cash float source (safe or bank)"
    FX_REALISED = "fx_realised", "Realised exchange gains and losses"
    FX_UNREALISED = "fx_unrealised", "Unrealised exchange gains and losses (revaluation)"


class ChangeStatus(models.TextChoices):
    """Life of a change request: draft -> submitted -> approved | rejected (or withdrawn)."""

    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted for approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn by its author"


class ChangeAction(models.TextChoices):
    """What an item does to the rule it names."""

    ADD = "add", "Add rule"
    EDIT = "edit", "Change rule"
    REMOVE = "remove", "Remove rule"


class RepostStatus(models.TextChoices):
    """Life of a re-posting: pending (previewed, awaiting execution) -> done, or cancelled."""

    PENDING = "pending", "Waiting to be executed"
    DONE = "done", "Executed"
    CANCELLED = "cancelled", "Cancelled"


class RepostOutcome(models.TextChoices):
    """What happened to one document when a re-posting was executed."""

    REPOSTED = "reposted", "Reversed and posted again"
    UNCHANGED = "unchanged", "Journal unchanged under the new rules"
    CLOSED_PERIOD = "closed_period", "In a closed period: left as it was"
    NEEDS_MAPPING = "needs_mapping", "The new rules do not cover it"
    SKIPPED = "skipped", "Changed since the preview: left to the pipeline"
    FAILED = "failed", "Failed"


class RateSource(models.TextChoices):
    """Where an exchange rate came from, in the default order of precedence."""

    SOURCE = "source", "Stated by the sales system"
    LEDGER = "ledger", "The ledger's own rate"
    REFERENCE = "reference", "Reference table (ECB, fixed pegs)"
    MANUAL = "manual", "Entered by a person"
    IDENTITY = "identity", "Same currency"


class PeriodCloseStatus(models.TextChoices):
    """A month of a ledger connection: closed (locked), or reopened by a finance manager."""

    CLOSED = "closed", "Closed"
    REOPENED = "reopened", "Reopened"


class AlertKind(models.TextChoices):
    """What an alert is about. Each fires once per cause (one dead letter, one day of budget)."""

    DEAD_LETTER = "dead_letter", "A posting was dead-lettered"
    NEEDS_REAUTH = "needs_reauth", "A connection needs re-authorisation"
    DAILY_BUDGET = "daily_budget", "A ledger's daily call budget is nearly spent"
    RECONCILIATION = "reconciliation", "Reconciliation failing two days running"
    INVENTORY = "inventory", "Stock below its reorder point"


class AlertSeverity(models.TextChoices):
    """How urgent an alert is (the colour on the dashboard, the subject of the e-mail)."""

    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Needs action"
