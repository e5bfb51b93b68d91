"""API serializers. Encrypted fields (credentials, tokens, webhook secrets) are never exposed, and
request/response bodies of posting attempts are redacted again on the way out.

Money is a decimal string (``"144.00"``), never a float.
"""

from __future__ import annotations

import contextlib
from typing import Any

from rest_framework import serializers

from connectors.http import redact
from integrator import money
from integrator.models import (
    AuditEvent,
    Channel,
    InboundEvent,
    Job,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    LedgerConnection,
    Posting,
    PostingAttempt,
    TaxCode,
    Transaction,
)

__all__ = [
    "AuditEventSerializer",
    "ChannelSerializer",
    "GeneralLedgerRowSerializer",
    "InboundEventSerializer",
    "JobSerializer",
    "JournalEntrySerializer",
    "LedgerAccountSerializer",
    "LedgerConnectionSerializer",
    "PostingMoveSerializer",
    "PostingSerializer",
    "TaxCodeSerializer",
    "TransactionSerializer",
    "TrialBalanceRowSerializer",
]

# Report amounts arrive already quantised to their currency: keep them as they are.
MONEY: dict[str, Any] = {"max_digits": None, "decimal_places": None}


class CurrencyAmountsMixin(serializers.Serializer):
    """Shows the money fields named in ``money_fields`` in the row's currency's minor unit
    (``"144.00"``, ``"95000"`` for XOF) instead of the database's four decimals."""

    money_fields: tuple[str, ...] = ()
    currency_attr = "currency"

    def to_representation(self, instance: Any) -> Any:
        """Quantise money to the currency of the row."""
        data = super().to_representation(instance)
        currency = getattr(instance, self.currency_attr, "")
        for name in self.money_fields:
            value = getattr(instance, name, None)
            if value is not None and data.get(name) is not None:
                # An unknown currency keeps the stored precision rather than failing the response.
                with contextlib.suppress(money.UnknownCurrency, money.InvalidAmount, ArithmeticError):
                    data[name] = format(money.quantize(value, currency), "f")
        return data


class ChannelSerializer(serializers.ModelSerializer):
    """A sales channel (secrets omitted)."""

    class Meta:
        model = Channel
        fields = ["id", "platform", "name", "slug", "timezone", "currency", "posting_mode",
                  "ledger_connection", "base_url", "active", "last_synced_at", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = fields


class LedgerConnectionSerializer(serializers.ModelSerializer):
    """A ledger connection (credentials omitted)."""

    class Meta:
        model = LedgerConnection
        fields = ["id", "platform", "name", "functional_currency", "base_url", "lock_date", "remote_lock_date",
                  "lock_policy", "needs_reauth", "active", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = fields


class LedgerAccountSerializer(serializers.ModelSerializer):
    """An account of a ledger's chart."""

    class Meta:
        model = LedgerAccount
        fields = ["id", "connection", "code", "name", "type", "remote_id", "active", "created_at"]
        read_only_fields = fields


class TaxCodeSerializer(serializers.ModelSerializer):
    """A ledger tax code (rate as a fraction: 0.20 for 20 %)."""

    class Meta:
        model = TaxCode
        fields = ["id", "connection", "code", "name", "rate", "remote_id", "active", "created_at"]
        read_only_fields = fields


class JournalLineSerializer(CurrencyAmountsMixin, serializers.ModelSerializer):
    """A journal line with its account code and the mapping rule that chose it."""

    money_fields = ("debit", "credit")

    account_code = serializers.CharField(source="account.code", read_only=True)

    class Meta:
        model = JournalLine
        fields = ["position", "account", "account_code", "debit", "credit", "currency", "role", "description",
                  "tax_code", "tax_rate", "mapping_rule"]  # fmt: skip
        read_only_fields = fields


class JournalEntrySerializer(serializers.ModelSerializer):
    """A balanced journal entry with its lines."""

    lines = JournalLineSerializer(many=True, read_only=True)

    class Meta:
        model = JournalEntry
        fields = ["id", "kind", "transaction", "transaction_revision", "channel", "connection", "mapping_version",
                  "reference", "date", "currency", "memo", "reverses", "summary", "superseded", "created_at", "lines"]  # fmt: skip
        read_only_fields = fields


class TransactionSerializer(CurrencyAmountsMixin, serializers.ModelSerializer):
    """A canonical transaction with its current document (``integrator.canonical`` as JSON)."""

    money_fields = ("total", "tax_total")

    channel_slug = serializers.CharField(source="channel.slug", read_only=True)

    class Meta:
        model = Transaction
        fields = ["id", "channel", "channel_slug", "kind", "external_id", "number", "revision", "status",
                  "status_reasons", "occurred_at", "business_date", "currency", "total", "tax_total", "sale",
                  "document", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = fields


class PostingAttemptSerializer(serializers.ModelSerializer):
    """One attempt at sending a posting: what was sent and what came back (redacted)."""

    request = serializers.SerializerMethodField()
    response = serializers.SerializerMethodField()

    class Meta:
        model = PostingAttempt
        fields = ["number", "action", "started_at", "finished_at", "outcome", "error_class", "message", "worker",
                  "request", "response"]  # fmt: skip
        read_only_fields = fields

    def get_request(self, obj: PostingAttempt) -> Any:
        """The document summary sent, secrets redacted."""
        return redact(obj.request) if obj.request is not None else None

    def get_response(self, obj: PostingAttempt) -> Any:
        """What the ledger answered, secrets redacted."""
        return redact(obj.response) if obj.response is not None else None


class PostingSerializer(serializers.ModelSerializer):
    """An outbox row with its attempts."""

    reference = serializers.CharField(source="entry.reference", read_only=True)
    transaction = serializers.UUIDField(source="entry.transaction_id", read_only=True, allow_null=True)
    attempt_rows = PostingAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Posting
        fields = ["id", "connection", "entry", "reference", "transaction", "idempotency_key", "state",
                  "posting_date", "attempts", "next_attempt_at", "remote_id", "remote_number", "last_error",
                  "error_class", "note", "posted_at", "created_at", "updated_at", "attempt_rows"]  # fmt: skip
        read_only_fields = fields


class PostingMoveSerializer(serializers.Serializer):
    """The new (open) date for a posting held for a closed period; a reason is required when the
    date is more than 31 days from the document's own date."""

    date = serializers.DateField()
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class InboundEventSerializer(serializers.ModelSerializer):
    """An inbox row: the raw event as received (headers already reduced to the useful ones)."""

    channel_slug = serializers.CharField(source="channel.slug", read_only=True)

    class Meta:
        model = InboundEvent
        fields = ["id", "channel", "channel_slug", "dedupe_key", "event_type", "source", "status", "error",
                  "attempts", "deliveries", "received_at", "processed_at", "headers", "body"]  # fmt: skip
        read_only_fields = fields


class JobSerializer(serializers.ModelSerializer):
    """Long work and its progress (poll it: ``status`` ends as done or failed)."""

    percent = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Job
        fields = ["id", "kind", "description", "status", "done", "total", "percent", "message", "started_at",
                  "finished_at"]  # fmt: skip
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    """An audit trail row (hash-chained; ``prev_hash`` links it to the row before)."""

    class Meta:
        model = AuditEvent
        fields = ["id", "occurred_at", "actor", "actor_label", "action", "object_type", "object_id", "object_repr",
                  "before", "after", "request_id", "prev_hash", "row_hash"]  # fmt: skip
        read_only_fields = fields


class TrialBalanceRowSerializer(serializers.Serializer):
    """One trial-balance row of the built-in ledger: debits, credits and balance in the functional
    currency (``currency``), and the balance in each currency the account's lines were in."""

    code = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField()
    currency = serializers.CharField()
    debit = serializers.DecimalField(**MONEY)
    credit = serializers.DecimalField(**MONEY)
    balance = serializers.DecimalField(**MONEY)
    balances = serializers.DictField(child=serializers.DecimalField(**MONEY))


class GeneralLedgerRowSerializer(serializers.Serializer):
    """One general-ledger line with its running balance."""

    date = serializers.DateField()
    number = serializers.CharField()
    reference = serializers.CharField()
    account_code = serializers.CharField()
    description = serializers.CharField()
    currency = serializers.CharField()
    debit = serializers.DecimalField(**MONEY)
    credit = serializers.DecimalField(**MONEY)
    functional_currency = serializers.CharField()
    functional_debit = serializers.DecimalField(**MONEY)
    functional_credit = serializers.DecimalField(**MONEY)
    running_balance = serializers.DecimalField(**MONEY, help_text="In the functional currency.")
