"""REST API of Z report imports (Prysm tills that export end-of-day files).

* ``GET /api/v1/z-reports/`` - imported reports (inbox events of source ``file``), newest first;
  ``?channel=<id>`` narrows to one till.
* ``POST /api/v1/z-reports/`` - multipart ``channel``, ``file`` and ``preview`` (default false):
  a preview says what each report holds and every problem by row; an import stores every report of
  the file or, when any row has a problem, nothing (400 with the rows). Importing the same file
  again imports nothing new (200).
* ``GET /api/v1/z-reports/columns/?channel=<id>`` - the till's column mapping;
  ``POST`` the same path with ``{"channel", "columns", "date_format", "decimal_comma",
  "tax_label"}`` saves it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from connectors.sources.prysm.z_report import FIELDS
from integrator.api.pagination import cursor_by
from integrator.api.permissions import TokenScopePermission
from integrator.api.views import HasPermission, _ReadOnly
from integrator.models import Channel, InboundEvent
from integrator.services import z_reports as svc

__all__ = ["ZReportViewSet", "register"]


class ZReportSerializer(serializers.ModelSerializer):
    """An imported report: the inbox event and what the till reported."""

    channel: serializers.SlugRelatedField[Channel] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    # Plain text: the event statuses already have their enum in the schema (see InboundEvent).
    status = serializers.CharField(read_only=True)
    report = serializers.SerializerMethodField()
    transactions = serializers.SerializerMethodField()

    class Meta:
        model = InboundEvent
        fields = [
            "id",
            "channel",
            "dedupe_key",
            "status",
            "error",
            "received_at",
            "deliveries",
            "report",
            "transactions",
        ]
        read_only_fields = fields

    def get_report(self, event: InboundEvent) -> dict[str, Any]:
        """The stored report (number, date, register, sales, tenders, cash ...)."""
        data: dict[str, Any] = json.loads(event.body)
        return data

    def get_transactions(self, event: InboundEvent) -> list[str]:
        """The transactions it became."""
        return [str(pk) for pk in event.transactions.values_list("pk", flat=True)]


class UploadSerializer(serializers.Serializer):
    """A Z report file for one till."""

    channel = serializers.PrimaryKeyRelatedField(queryset=Channel.objects.all())
    file = serializers.FileField()
    preview = serializers.BooleanField(default=False)


class MappingSerializer(serializers.Serializer):
    """A till's column mapping (our field -> its file's header)."""

    channel = serializers.PrimaryKeyRelatedField(queryset=Channel.objects.all())
    columns = serializers.DictField(child=serializers.CharField(allow_blank=True))
    date_format = serializers.CharField(default="%Y-%m-%d")
    decimal_comma = serializers.BooleanField(default=False)
    tax_label = serializers.CharField(default="Tax")


class _AnyPermission(permissions.BasePermission):
    """The user holds one of several permissions."""

    def __init__(self, perms: tuple[str, ...]) -> None:
        self.perms = perms
        self.message = f"You need one of the permissions {', '.join(perms)}."

    def has_permission(self, request: Request, view: Any) -> bool:
        """True when the user has any of ``perms``."""
        return any(request.user.has_perm(p) for p in self.perms)


class ZReportViewSet(_ReadOnly):
    """Imported Z reports; POST a file to preview or import it."""

    queryset = InboundEvent.objects.filter(source="file", event_type="z_report.imported").select_related(
        "channel"
    )
    serializer_class = ZReportSerializer
    filterset_fields = ["channel", "status"]
    ordering_fields = ["received_at"]
    pagination_class = cursor_by("-received_at")
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    token_resource = "transactions"

    def get_permissions(self) -> Any:
        """Uploading needs the import permission; saving a mapping one of the mapping permissions."""
        if self.action == "create":
            return [
                permissions.IsAuthenticated(),
                TokenScopePermission(),
                HasPermission(svc.IMPORT_PERMISSION),
            ]
        if self.action == "columns" and self.request.method == "POST":
            return [
                permissions.IsAuthenticated(),
                TokenScopePermission(),
                _AnyPermission(svc.MAPPING_PERMISSIONS),
            ]
        return super().get_permissions()

    @extend_schema(
        request={"multipart/form-data": UploadSerializer}, responses={200: dict, 201: dict, 400: dict}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Preview or import a Z report file."""
        form = UploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        upload = data["file"]
        run = svc.preview_z_report if data["preview"] else svc.import_z_report
        try:
            result = run(
                data["channel"], upload.read(svc.MAX_FILE_BYTES + 1), filename=upload.name, actor=request.user
            )
        except svc.ZReportRejected as exc:
            raise ValidationError({"file": [str(exc)]}) from exc
        code: int
        if not result.ok:
            code = status.HTTP_400_BAD_REQUEST
        elif result.imported and result.new:
            code = status.HTTP_201_CREATED
        else:
            code = status.HTTP_200_OK
        return Response(result.as_dict(), status=code)

    @extend_schema(
        parameters=[OpenApiParameter("channel", str, description="The till (channel id)")],
        request=MappingSerializer,
        responses={200: dict},
    )
    @action(detail=False, methods=["get", "post"])
    def columns(self, request: Request) -> Response:
        """The till's column mapping (GET), or save one (POST)."""
        if request.method == "GET":
            wanted = _uuid(request.query_params.get("channel"))
            channel = Channel.objects.filter(pk=wanted).first() if wanted else None
            if channel is None:
                raise NotFound("no such channel")
            mapping = svc.mapping_for(channel)
            return Response({"channel": str(channel.pk), **mapping.as_settings(), "fields": list(FIELDS)})
        form = MappingSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            mapping = svc.save_mapping(
                data["channel"], columns=dict(data["columns"]), date_format=data["date_format"],
                decimal_comma=data["decimal_comma"], tax_label=data["tax_label"], actor=request.user,
            )  # fmt: skip
        except svc.ZReportRejected as exc:
            raise ValidationError({"columns": [str(exc)]}) from exc
        return Response({"channel": str(data["channel"].pk), **mapping.as_settings()})


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def register(router: BaseRouter) -> None:
    """Add the Z report resource to the core API router."""
    router.register("z-reports", ZReportViewSet, basename="zreport")
