"""REST API of reconciliation: runs (start one), exceptions (resolve), bank accounts and statements.

Registered on the core router by :func:`register` (``/api/v1/reconciliation-runs/`` ...). Every
write calls a service; permissions are the roles' model permissions (settings default), plus the
write-off permission checked by the resolve service.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from reconciliation import serializers as s
from reconciliation.filters import ExceptionFilter
from reconciliation.importers import StatementRejected
from reconciliation.models import BankAccount, BankStatement, ReconciliationException, ReconciliationRun
from reconciliation.services.resolution import RESOLVE_PERMISSION, ResolutionRefused, resolve_exception
from reconciliation.services.runs import start_run
from reconciliation.services.statement_jobs import start_statement_import
from reconciliation.services.statements import (
    ImportResult,
    create_bank_account,
    import_statement,
    preview_statement,
)

__all__ = [
    "BankAccountViewSet",
    "BankStatementViewSet",
    "ReconciliationExceptionViewSet",
    "ReconciliationRunViewSet",
    "register",
]


class ReconciliationRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Reconciliation runs; POST ``{"day": ...}`` or ``{"start": ..., "end": ...}`` queues one."""

    queryset = ReconciliationRun.objects.all()
    serializer_class = s.ReconciliationRunSerializer
    filterset_fields = ["status", "kind", "start", "end"]

    @extend_schema(request=s.StartRunSerializer, responses={202: s.ReconciliationRunSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Queue a run; poll the run's URL for progress (done/total)."""
        form = s.StartRunSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        run = start_run(
            form.validated_data.get("day"),
            start=form.validated_data.get("start"),
            end=form.validated_data.get("end"),
            actor=request.user,
        )
        run.refresh_from_db()
        return Response(s.ReconciliationRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ReconciliationExceptionViewSet(viewsets.ReadOnlyModelViewSet):
    """Exceptions found by the runs; ``resolve`` closes one with a note (or writes it off)."""

    queryset = ReconciliationException.objects.select_related("channel")
    serializer_class = s.ReconciliationExceptionSerializer
    filterset_class = ExceptionFilter

    def get_permissions(self) -> Sequence[Any]:
        """Resolving is a change checked in the action (the POST is not a create)."""
        if self.action == "resolve":
            return [permissions.IsAuthenticated()]
        return super().get_permissions()

    @extend_schema(request=s.ResolveSerializer, responses=s.ReconciliationExceptionSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        """Resolve with a note; ``write_off: true`` needs the finance manager's permission."""
        if not request.user.has_perm(RESOLVE_PERMISSION):
            return Response({"detail": "You may not resolve exceptions."}, status=status.HTTP_403_FORBIDDEN)
        form = s.ResolveSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            resolved = resolve_exception(
                self.get_object(),
                note=form.validated_data["note"],
                write_off=form.validated_data["write_off"],
                actor=request.user,
            )
        except DjangoPermissionDenied as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        except ResolutionRefused as exc:
            code = status.HTTP_409_CONFLICT if "already" in str(exc) else status.HTTP_400_BAD_REQUEST
            return Response({"detail": str(exc)}, status=code)
        return Response(s.ReconciliationExceptionSerializer(resolved).data)


class BankAccountViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Bank accounts whose statements are imported."""

    queryset = BankAccount.objects.all()
    serializer_class = s.BankAccountSerializer
    filterset_fields = ["connection", "currency", "active"]

    def perform_create(self, serializer: Any) -> None:
        """Create through the service (validated and audited)."""
        data = serializer.validated_data
        try:
            serializer.instance = create_bank_account(
                name=data["name"],
                connection=data["connection"],
                ledger_account=data["ledger_account"],
                currency=data["currency"],
                account_number=data.get("account_number", ""),
                csv_format=data.get("csv_format") or None,
                actor=self.request.user,
            )
        except (ValueError, StatementRejected) as exc:
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"detail": str(exc)}) from exc


def _result_body(result: ImportResult, *, preview: bool) -> dict[str, Any]:
    """The response body of an upload: counts, errors, and (for a preview) the new lines."""
    lines = result.new_lines if preview else []
    return {
        "preview": preview,
        "format": result.format,
        "checksum": result.checksum,
        "statement": s.BankStatementSerializer(result.statement).data if result.statement else None,
        "duplicate_of": str(result.duplicate_of.pk) if result.duplicate_of else None,
        "imported": result.imported,
        "new": result.new_count,
        "duplicates": result.duplicate_count,
        "errors": [e.as_dict() for e in result.errors],
        "lines": [
            {
                "row": ln.row,
                "date": ln.date,
                "amount": str(ln.amount),
                "currency": ln.currency,
                "description": ln.description,
                "reference": ln.reference,
                "counterparty": ln.counterparty,
            }
            for ln in lines
        ],
    }


class BankStatementViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Imported statements; POST multipart (``bank_account``, ``file``, optional ``format``,
    ``preview`` and ``background``) imports one. The same file twice imports nothing."""

    queryset = BankStatement.objects.defer("content")
    serializer_class = s.BankStatementSerializer
    filterset_fields = ["bank_account", "format", "period_start", "period_end", "checksum"]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self) -> QuerySet[BankStatement]:
        """Statements without their file bytes."""
        return super().get_queryset().select_related("bank_account")

    @extend_schema(
        request={"multipart/form-data": s.StatementUploadSerializer},
        responses={201: dict, 200: dict, 202: dict},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Preview or import an uploaded statement file."""
        form = s.StatementUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        upload = data["file"]  # read from the upload itself (on disk when large), never whole
        if data["background"] and not data["preview"]:
            job = start_statement_import(data["bank_account"], upload, filename=upload.name,
                                         fmt=data.get("format"), size=upload.size, actor=request.user)  # fmt: skip
            body = {"job": str(job.pk), "status": job.status, "url": f"/api/v1/jobs/{job.pk}/"}
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})
        try:
            if data["preview"]:
                result = preview_statement(
                    data["bank_account"], upload, filename=upload.name, fmt=data.get("format")
                )
            else:
                result = import_statement(
                    data["bank_account"],
                    upload,
                    filename=upload.name,
                    fmt=data.get("format"),
                    actor=request.user,
                )
        except StatementRejected as exc:
            return Response(
                {"detail": str(exc), "errors": [e.as_dict() for e in exc.errors]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(_result_body(result, preview=data["preview"]), status=code)

    @extend_schema(responses=s.BankLineSerializer(many=True))
    @action(detail=True, methods=["get"])
    def lines(self, request: Request, pk: str | None = None) -> Response:
        """The statement's stored lines with their matched payouts."""
        statement = self.get_object()
        rows = statement.lines.select_related("match").order_by("date", "row")
        return Response(s.BankLineSerializer(rows, many=True).data)


def register(router: BaseRouter) -> None:
    """Add the reconciliation resources to the core API router."""
    router.register("reconciliation-runs", ReconciliationRunViewSet)
    router.register("reconciliation-exceptions", ReconciliationExceptionViewSet)
    router.register("bank-accounts", BankAccountViewSet)
    router.register("bank-statements", BankStatementViewSet)
