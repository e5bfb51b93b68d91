"""API serializers of reconciliation (stored files are never sent back; only their metadata)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from integrator.models import LedgerAccount, LedgerConnection
from reconciliation.choices import StatementFormat
from reconciliation.models import (
    BankAccount,
    BankLine,
    BankStatement,
    Match,
    ReconciliationException,
    ReconciliationRun,
)

__all__ = [
    "BankAccountSerializer",
    "BankLineSerializer",
    "BankStatementSerializer",
    "MatchSerializer",
    "ReconciliationExceptionSerializer",
    "ReconciliationRunSerializer",
    "ResolveSerializer",
    "StartRunSerializer",
    "StatementUploadSerializer",
]


class ReconciliationRunSerializer(serializers.ModelSerializer):
    """A run with its progress and counts."""

    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = ReconciliationRun
        fields = [
            "id",
            "kind",
            "start",
            "end",
            "status",
            "done",
            "total",
            "percent",
            "message",
            "transactions_checked",
            "matches_made",
            "exceptions_new",
            "exceptions_open",
            "exceptions_cleared",
            "summary",
            "started_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class StartRunSerializer(serializers.Serializer):
    """Start a run for a day, or for a period (start and end)."""

    day = serializers.DateField(required=False)
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """A day, or both ends of a period, in order."""
        if attrs.get("day") and (attrs.get("start") or attrs.get("end")):
            raise serializers.ValidationError("Give a day or a period, not both.")
        if not attrs.get("day") and not (attrs.get("start") and attrs.get("end")):
            raise serializers.ValidationError("Give a day, or both start and end.")
        if attrs.get("start") and attrs.get("end") and attrs["end"] < attrs["start"]:
            raise serializers.ValidationError("The period ends before it starts.")
        return attrs


class ReconciliationExceptionSerializer(serializers.ModelSerializer):
    """An exception with its links (transaction, posting, bank line) and resolution."""

    channel_slug = serializers.CharField(source="channel.slug", read_only=True, default=None)

    class Meta:
        model = ReconciliationException
        fields = [
            "id",
            "key",
            "kind",
            "day",
            "channel",
            "channel_slug",
            "connection",
            "currency",
            "amount",
            "expected",
            "actual",
            "explanation",
            "transaction",
            "posting",
            "bank_line",
            "status",
            "auto_resolved",
            "resolution_note",
            "resolved_by",
            "resolved_at",
            "first_run",
            "last_run",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ResolveSerializer(serializers.Serializer):
    """Resolve with a note; ``write_off`` needs the finance manager's permission."""

    note = serializers.CharField(allow_blank=True, max_length=4000)
    write_off = serializers.BooleanField(default=False)


class BankAccountSerializer(serializers.ModelSerializer):
    """A bank account mirrored by a ledger account."""

    connection = serializers.PrimaryKeyRelatedField(queryset=LedgerConnection.objects.all())
    ledger_account = serializers.PrimaryKeyRelatedField(queryset=LedgerAccount.objects.all())

    class Meta:
        model = BankAccount
        fields = [
            "id",
            "name",
            "connection",
            "ledger_account",
            "currency",
            "account_number",
            "csv_format",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "active", "created_at", "updated_at"]


class MatchSerializer(serializers.ModelSerializer):
    """A payout paired with its deposit."""

    class Meta:
        model = Match
        fields = ["id", "payout", "bank_line", "method", "day_difference", "run", "created_at"]
        read_only_fields = fields


class BankLineSerializer(serializers.ModelSerializer):
    """A statement line, with the payout it was matched to."""

    matched_payout = serializers.SerializerMethodField()

    class Meta:
        model = BankLine
        fields = [
            "id",
            "row",
            "date",
            "value_date",
            "amount",
            "currency",
            "description",
            "reference",
            "bank_reference",
            "counterparty",
            "matched_payout",
        ]
        read_only_fields = fields

    def get_matched_payout(self, line: BankLine) -> str | None:
        """The id of the matched payout transaction, if any."""
        match = getattr(line, "match", None)
        return str(match.payout_id) if match is not None else None


class BankStatementSerializer(serializers.ModelSerializer):
    """An imported statement: period, balances, counts and row errors (not the file)."""

    class Meta:
        model = BankStatement
        fields = [
            "id",
            "bank_account",
            "format",
            "filename",
            "checksum",
            "period_start",
            "period_end",
            "opening_balance",
            "closing_balance",
            "line_count",
            "imported_count",
            "duplicate_count",
            "error_count",
            "errors",
            "imported_by",
            "created_at",
        ]
        read_only_fields = fields


class StatementUploadSerializer(serializers.Serializer):
    """A multipart upload: the file, the bank account, optionally the format, preview-only and
    background."""

    bank_account = serializers.PrimaryKeyRelatedField(queryset=BankAccount.objects.filter(active=True))
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=StatementFormat.choices, required=False)
    preview = serializers.BooleanField(default=False)
    background = serializers.BooleanField(
        default=False,
        help_text="Import in the worker: answered 202 with the Job to poll (GET /api/v1/jobs/<id>/) "
        "instead of waiting for the import, which suits large files.",
    )
