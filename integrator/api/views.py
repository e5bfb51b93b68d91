"""API viewsets: thin over the services; filtering and cursor pagination on every list."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from integrator.api import serializers as s
from integrator.models import (
    AuditEvent,
    Channel,
    JournalEntry,
    LedgerAccount,
    LedgerConnection,
    Posting,
    TaxCode,
    Transaction,
)
from integrator.services.posting import replay_posting

__all__ = [
    "AuditEventViewSet",
    "ChannelViewSet",
    "JournalEntryViewSet",
    "LedgerAccountViewSet",
    "LedgerConnectionViewSet",
    "PostingViewSet",
    "TaxCodeViewSet",
    "TransactionViewSet",
]


class _ReadOnly(viewsets.ReadOnlyModelViewSet):
    """Read-only resource; permissions come from settings (ModelPermission)."""


class ChannelViewSet(_ReadOnly):
    """Sales channels."""

    queryset = Channel.objects.all()
    serializer_class = s.ChannelSerializer
    filterset_fields = ["platform", "slug", "active", "posting_mode"]


class LedgerConnectionViewSet(_ReadOnly):
    """Ledger connections."""

    queryset = LedgerConnection.objects.all()
    serializer_class = s.LedgerConnectionSerializer
    filterset_fields = ["platform", "active", "needs_reauth"]


class LedgerAccountViewSet(_ReadOnly):
    """Accounts of the ledgers' charts."""

    queryset = LedgerAccount.objects.all()
    serializer_class = s.LedgerAccountSerializer
    filterset_fields = ["connection", "type", "active", "code"]


class TaxCodeViewSet(_ReadOnly):
    """Ledger tax codes."""

    queryset = TaxCode.objects.all()
    serializer_class = s.TaxCodeSerializer
    filterset_fields = ["connection", "active", "code"]


class TransactionViewSet(_ReadOnly):
    """Canonical transactions."""

    queryset = Transaction.objects.select_related("channel")
    serializer_class = s.TransactionSerializer
    filterset_fields = ["channel", "kind", "status", "currency", "business_date", "external_id", "number"]


class JournalEntryViewSet(_ReadOnly):
    """Journal entries with lines."""

    queryset = JournalEntry.objects.prefetch_related("lines__account")
    serializer_class = s.JournalEntrySerializer
    filterset_fields = ["channel", "connection", "kind", "date", "currency", "transaction", "reference"]


class PostingViewSet(_ReadOnly):
    """Outbox postings with their attempts; dead letters can be retried."""

    queryset = Posting.objects.select_related("entry").prefetch_related("attempt_rows")
    serializer_class = s.PostingSerializer
    filterset_fields = ["connection", "state", "posting_date", "idempotency_key"]

    def get_permissions(self) -> Any:
        """Retrying is a change, checked in the action itself (the POST is not a create)."""
        if self.action == "retry":
            return [permissions.IsAuthenticated()]
        return super().get_permissions()

    @extend_schema(request=None, responses=s.PostingSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Replay a dead-lettered or held posting (looked up first: never a second document)."""
        if not request.user.has_perm("integrator.change_posting"):
            return Response({"detail": "You may not retry postings."}, status=status.HTTP_403_FORBIDDEN)
        try:
            posting = replay_posting(self.get_object(), actor=request.user)
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(s.PostingSerializer(posting).data)


class AuditPagination(CursorPagination):
    """Audit rows newest first by id."""

    ordering = "-id"


class AuditEventViewSet(_ReadOnly):
    """The audit trail (read only; it is append-only)."""

    queryset = AuditEvent.objects.all()
    serializer_class = s.AuditEventSerializer
    pagination_class = AuditPagination
    filterset_fields = ["action", "object_type", "object_id", "actor", "request_id"]

    def get_queryset(self) -> QuerySet[AuditEvent]:
        """Newest first."""
        return super().get_queryset().order_by("-id")
