"""API serializers. Encrypted fields (credentials, tokens, webhook secrets) are never exposed."""

from __future__ import annotations

from rest_framework import serializers

from integrator.models import (
    AuditEvent,
    Channel,
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
    "JournalEntrySerializer",
    "LedgerAccountSerializer",
    "LedgerConnectionSerializer",
    "PostingSerializer",
    "TaxCodeSerializer",
    "TransactionSerializer",
]


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
    """A ledger tax code."""

    class Meta:
        model = TaxCode
        fields = ["id", "connection", "code", "name", "rate", "remote_id", "active", "created_at"]
        read_only_fields = fields


class JournalLineSerializer(serializers.ModelSerializer):
    """A journal line with its account code and the mapping rule that chose it."""

    account_code = serializers.CharField(source="account.code", read_only=True)

    class Meta:
        model = JournalLine
        fields = ["position", "account", "account_code", "debit", "credit", "currency", "role", "description",
                  "tax_code", "tax_rate", "mapping_rule"]  # fmt: skip


class JournalEntrySerializer(serializers.ModelSerializer):
    """A balanced journal entry with its lines."""

    lines = JournalLineSerializer(many=True, read_only=True)

    class Meta:
        model = JournalEntry
        fields = ["id", "kind", "transaction", "transaction_revision", "channel", "connection", "mapping_version",
                  "reference", "date", "currency", "memo", "reverses", "summary", "superseded", "created_at", "lines"]  # fmt: skip
        read_only_fields = fields


class TransactionSerializer(serializers.ModelSerializer):
    """A canonical transaction with its current document."""

    channel_slug = serializers.CharField(source="channel.slug", read_only=True)

    class Meta:
        model = Transaction
        fields = ["id", "channel", "channel_slug", "kind", "external_id", "number", "revision", "status",
                  "status_reasons", "occurred_at", "business_date", "currency", "total", "tax_total", "sale",
                  "document", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = fields


class PostingAttemptSerializer(serializers.ModelSerializer):
    """One attempt at sending a posting."""

    class Meta:
        model = PostingAttempt
        fields = [
            "number",
            "action",
            "started_at",
            "finished_at",
            "outcome",
            "error_class",
            "message",
            "worker",
        ]


class PostingSerializer(serializers.ModelSerializer):
    """An outbox row with its attempts."""

    reference = serializers.CharField(source="entry.reference", read_only=True)
    attempt_rows = PostingAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Posting
        fields = ["id", "connection", "entry", "reference", "idempotency_key", "state", "posting_date", "attempts",
                  "next_attempt_at", "remote_id", "remote_number", "last_error", "error_class", "note", "posted_at",
                  "created_at", "updated_at", "attempt_rows"]  # fmt: skip
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    """An audit trail row."""

    class Meta:
        model = AuditEvent
        fields = ["id", "occurred_at", "actor", "actor_label", "action", "object_type", "object_id", "object_repr",
                  "before", "after", "request_id", "prev_hash", "row_hash"]  # fmt: skip
        read_only_fields = fields
