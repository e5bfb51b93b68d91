"""API viewsets: thin over the services; the shared FilterSets, cursor pagination and one error body.

Every list is filtered by the same FilterSet as its screen (``integrator.filters``), ordered by a
whitelist (``?ordering=-total``) and paged by cursor. Writes happen only through actions that call
a service (``postings/{id}/retry/``, ``postings/{id}/move/``, ``transactions/{id}/retry/``): each
checks its own permission and writes its audit row in the service.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from integrator import filters
from integrator.api import serializers as s
from integrator.api.errors import Conflict, ErrorBodySerializer, exception_handler
from integrator.api.pagination import ReportPagination, cursor_by
from integrator.api.permissions import TokenScopePermission
from integrator.choices import PostingState, TransactionStatus
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
from integrator.services import books
from integrator.services import reports as statements
from integrator.services.pipeline import advance_transaction
from integrator.services.posting import move_held_posting, replay_posting

__all__ = [
    "AuditEventViewSet",
    "ChannelViewSet",
    "CoreViewSetMixin",
    "HasPermission",
    "InboundEventViewSet",
    "JobViewSet",
    "JournalEntryViewSet",
    "LedgerAccountViewSet",
    "LedgerConnectionViewSet",
    "PostingViewSet",
    "ReportViewSet",
    "TaxCodeViewSet",
    "TransactionViewSet",
]

ERRORS = {
    403: OpenApiResponse(ErrorBodySerializer, description="Not allowed."),
    404: OpenApiResponse(ErrorBodySerializer, description="No such object."),
}


class HasPermission(permissions.BasePermission):
    """The user holds one Django permission (for actions that are not plain CRUD)."""

    def __init__(self, perm: str) -> None:
        self.perm = perm
        self.message = f"You need the permission {perm!r}."

    def has_permission(self, request: Request, view: Any) -> bool:
        """True when the user has ``perm``."""
        return bool(request.user and request.user.has_perm(self.perm))


class CoreViewSetMixin:
    """The house rules of a viewset: the standard error body, and per-action permissions.

    ``action_permissions`` maps an action name to the permission it needs (checked with the token
    scopes) instead of the model permission of its HTTP method.
    """

    action_permissions: ClassVar[dict[str, str]] = {}

    def get_exception_handler(self) -> Any:
        """Every error answers ``{"error": {...}}``."""
        return exception_handler

    def get_permissions(self) -> Any:
        """Actions with their own permission; everything else from settings (ModelPermission)."""
        perm = self.action_permissions.get(getattr(self, "action", None) or "")
        if perm:
            return [permissions.IsAuthenticated(), TokenScopePermission(), HasPermission(perm)]
        return super().get_permissions()  # type: ignore[misc]


class _ReadOnly(CoreViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """A read-only resource (list, detail, filters, ordering, cursor pages)."""


class ChannelViewSet(_ReadOnly):
    """Sales channels (their secrets are never returned)."""

    queryset = Channel.objects.all()
    serializer_class = s.ChannelSerializer
    filterset_class = filters.ChannelFilterSet
    ordering_fields = ["name", "slug", "created_at"]


class LedgerConnectionViewSet(_ReadOnly):
    """Ledger connections (credentials are never returned)."""

    queryset = LedgerConnection.objects.all()
    serializer_class = s.LedgerConnectionSerializer
    filterset_class = filters.LedgerConnectionFilterSet
    ordering_fields = ["name", "created_at"]


class LedgerAccountViewSet(_ReadOnly):
    """Accounts of the ledgers' charts."""

    queryset = LedgerAccount.objects.all()
    serializer_class = s.LedgerAccountSerializer
    filterset_class = filters.LedgerAccountFilterSet
    ordering_fields = ["code", "name", "created_at"]


class TaxCodeViewSet(_ReadOnly):
    """Ledger tax codes."""

    queryset = TaxCode.objects.all()
    serializer_class = s.TaxCodeSerializer
    filterset_class = filters.TaxCodeFilterSet
    ordering_fields = ["code", "name", "created_at"]


class TransactionViewSet(_ReadOnly):
    """Canonical transactions; ``q`` finds order numbers, vendor ids and amounts."""

    queryset = Transaction.objects.select_related("channel")
    serializer_class = s.TransactionSerializer
    filterset_class = filters.TransactionFilterSet
    ordering_fields = ["occurred_at", "business_date", "total", "created_at"]
    action_permissions = {"retry": "integrator.change_transaction"}

    @extend_schema(request=None, responses={200: s.TransactionSerializer, 409: ErrorBodySerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Validate, journal and post again a transaction that is invalid, needs a mapping or was
        never processed (after a mapping was approved, or the sale a refund needs arrived)."""
        txn = self.get_object()
        if txn.status not in (
            TransactionStatus.INVALID,
            TransactionStatus.NEEDS_MAPPING,
            TransactionStatus.NEEDS_RATE,
            TransactionStatus.RECEIVED,
        ):
            raise Conflict(f"this transaction is {txn.status}: there is nothing to retry")
        txn = advance_transaction(txn.pk, actor=request.user)
        return Response(s.TransactionSerializer(self.get_queryset().get(pk=txn.pk)).data)


class JournalEntryViewSet(_ReadOnly):
    """Journal entries with their lines."""

    queryset = JournalEntry.objects.prefetch_related(
        Prefetch("lines", queryset=JournalLine.objects.select_related("account").order_by("position"))
    )
    serializer_class = s.JournalEntrySerializer
    filterset_class = filters.JournalEntryFilterSet
    ordering_fields = ["date", "reference", "created_at"]


class PostingViewSet(_ReadOnly):
    """Outbox postings with their attempts; dead letters and held postings can be retried, and a
    held posting can be moved to an open date."""

    queryset = Posting.objects.select_related("entry").prefetch_related(
        Prefetch("attempt_rows", queryset=PostingAttempt.objects.order_by("number"))
    )
    serializer_class = s.PostingSerializer
    filterset_class = filters.PostingFilterSet
    ordering_fields = ["posting_date", "created_at", "attempts"]
    action_permissions = {"retry": "integrator.change_posting", "move": "integrator.change_posting"}

    def _fresh(self, pk: Any) -> Response:
        return Response(s.PostingSerializer(self.get_queryset().get(pk=pk)).data)

    @extend_schema(request=None, responses={200: s.PostingSerializer, 409: ErrorBodySerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Replay a dead-lettered or held posting. It is looked up in the ledger first, so a retry
        never creates a second document."""
        try:
            posting = replay_posting(self.get_object(), actor=request.user)
        except ValueError as exc:
            raise Conflict(str(exc)) from exc
        return self._fresh(posting.pk)

    @extend_schema(
        request=s.PostingMoveSerializer,
        responses={200: s.PostingSerializer, 409: ErrorBodySerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str | None = None) -> Response:
        """Post a posting held for a closed period on a new, open date (a note records the move)."""
        posting = self.get_object()
        body = s.PostingMoveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if posting.state != PostingState.HELD:
            raise Conflict(f"only a held posting can be moved (this one is {posting.state})")
        try:
            move_held_posting(
                posting, body.validated_data["date"], actor=request.user, reason=body.validated_data["reason"]
            )
        except ValueError as exc:
            raise Conflict(str(exc)) from exc
        return self._fresh(posting.pk)


class InboundEventViewSet(_ReadOnly):
    """The inbox: every event received or pulled, as it arrived."""

    queryset = InboundEvent.objects.select_related("channel")
    serializer_class = s.InboundEventSerializer
    filterset_class = filters.InboundEventFilterSet
    pagination_class = cursor_by("-received_at")
    ordering_fields = ["received_at"]


class JobViewSet(_ReadOnly):
    """Long work (back-fills, imports, re-postings) and its progress."""

    queryset = Job.objects.all()
    serializer_class = s.JobSerializer
    filterset_class = filters.JobFilterSet
    pagination_class = cursor_by("-started_at")
    ordering_fields = ["started_at"]


class AuditEventViewSet(_ReadOnly):
    """The audit trail (read only: it is append-only and hash-chained)."""

    queryset = AuditEvent.objects.all()
    serializer_class = s.AuditEventSerializer
    filterset_class = filters.AuditEventFilterSet
    pagination_class = cursor_by("-id")
    ordering_fields = ["id"]

    def get_queryset(self) -> QuerySet[AuditEvent]:
        """Newest first."""
        return super().get_queryset().order_by("-id")


_CONNECTION = OpenApiParameter(
    "connection", OpenApiTypes.UUID, required=True, description="Ledger connection id."
)
_PERIOD = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day (the current month by default)."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day; the comparison is the period before."),
]
_STATEMENT = (
    "One statement per currency: period, compared period, sections (lines per account with current, "
    "previous and change as exact strings, and a total), bottom-line totals; balance sheets add `balances`."
)


class ReportViewSet(CoreViewSetMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Reports of the built-in ledger: trial balance and general ledger."""

    queryset = LedgerConnection.objects.all()
    pagination_class = ReportPagination
    filter_backends = ()  # reports filter by their own query parameters
    action_permissions = {
        "trial_balance": "integrator.view_ledgerconnection",
        "general_ledger": "integrator.view_ledgerconnection",
        "profit_and_loss": "integrator.view_ledgerconnection",
        "balance_sheet": "integrator.view_ledgerconnection",
        "list": "integrator.view_ledgerconnection",
    }

    def _connection(self, request: Request) -> LedgerConnection:
        from django.core.exceptions import ValidationError as DjangoValidationError
        from rest_framework.exceptions import NotFound, ValidationError

        pk = request.query_params.get("connection", "")
        if not pk:
            raise ValidationError({"connection": ["This parameter is required."]})
        try:
            conn = LedgerConnection.objects.filter(pk=pk).first()
        except DjangoValidationError as exc:
            raise ValidationError({"connection": ["Not a valid id."]}) from exc
        if conn is None:
            raise NotFound("No such ledger connection.")
        return conn

    @staticmethod
    def _date(request: Request, name: str) -> date | None:
        from rest_framework.exceptions import ValidationError

        raw = request.query_params.get(name, "")
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise ValidationError({name: ["Use YYYY-MM-DD."]}) from exc

    @extend_schema(responses={200: OpenApiResponse(description="The reports available.")})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The reports and their parameters."""
        return Response({
            "trial_balance": request.build_absolute_uri("trial-balance/") + "?connection=<id>&as_of=YYYY-MM-DD",
            "general_ledger": request.build_absolute_uri("general-ledger/")
            + "?connection=<id>&account=<code>&start=YYYY-MM-DD&end=YYYY-MM-DD",
            "profit_and_loss": request.build_absolute_uri("profit-and-loss/") + "?connection=<id>&start=YYYY-MM-DD&end=YYYY-MM-DD",
            "balance_sheet": request.build_absolute_uri("balance-sheet/") + "?connection=<id>&start=YYYY-MM-DD&end=YYYY-MM-DD",
        })  # fmt: skip

    @extend_schema(
        parameters=[
            _CONNECTION,
            OpenApiParameter("as_of", OpenApiTypes.DATE, description="Balances up to this day."),
        ],
        responses={200: s.TrialBalanceRowSerializer(many=True), 400: ErrorBodySerializer, **ERRORS},
    )
    @action(detail=False, methods=["get"], url_path="trial-balance")
    def trial_balance(self, request: Request) -> Response:
        """Debits, credits and balance per account and currency (not paged: one row per account)."""
        rows = books.trial_balance(self._connection(request), as_of=self._date(request, "as_of"))
        return Response(s.TrialBalanceRowSerializer(rows, many=True).data)

    @extend_schema(
        parameters=[
            _CONNECTION,
            OpenApiParameter("account", OpenApiTypes.STR, description="Account code."),
            OpenApiParameter("start", OpenApiTypes.DATE),
            OpenApiParameter("end", OpenApiTypes.DATE),
        ],
        responses={200: s.GeneralLedgerRowSerializer(many=True), 400: ErrorBodySerializer, **ERRORS},
    )
    @action(detail=False, methods=["get"], url_path="general-ledger")
    def general_ledger(self, request: Request) -> Response:
        """Every line with its running balance per account and currency, in numbered pages."""
        rows = books.general_ledger(
            self._connection(request),
            account_code=request.query_params.get("account") or None,
            start=self._date(request, "start"),
            end=self._date(request, "end"),
        )
        page = self.paginate_queryset(rows)
        data = s.GeneralLedgerRowSerializer(page if page is not None else rows, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def _period(self, request: Request) -> statements.Period:
        """The period asked for (the current month when no date is given)."""
        from rest_framework.exceptions import ValidationError

        start, end = self._date(request, "start"), self._date(request, "end")
        if start is None and end is None:
            return statements.month_of(timezone.localdate())
        if start is None or end is None:
            raise ValidationError({"start" if start is None else "end": ["Give both ends of the period."]})
        try:
            return statements.Period(start, end)
        except ValueError as exc:
            raise ValidationError({"end": [str(exc)]}) from exc

    @extend_schema(
        parameters=[_CONNECTION, *_PERIOD],
        responses={200: OpenApiResponse(description=_STATEMENT), 400: ErrorBodySerializer, **ERRORS},
    )
    @action(detail=False, methods=["get"], url_path="profit-and-loss")
    def profit_and_loss(self, request: Request) -> Response:
        """Revenue and expenses per account for the period and the previous one, one statement per
        currency, with the net profit (not paged)."""
        result = statements.profit_and_loss(self._connection(request), self._period(request))
        return Response([statements.as_json(st) for st in result])

    @extend_schema(
        parameters=[_CONNECTION, *_PERIOD],
        responses={200: OpenApiResponse(description=_STATEMENT), 400: ErrorBodySerializer, **ERRORS},
    )
    @action(detail=False, methods=["get"], url_path="balance-sheet")
    def balance_sheet(self, request: Request) -> Response:
        """Assets, liabilities and equity (earnings included) at the end of the period and of the
        previous one, in the functional currency, with ``balances`` (not paged)."""
        result = statements.balance_sheet(self._connection(request), self._period(request))
        return Response([statements.as_json(st) for st in result])
