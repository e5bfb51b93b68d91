"""Exchange rates in the API: list, a person's rate (create), and the ECB file import.

``POST /api/v1/exchange-rates/`` stores a manual rate (finance managers; audited);
``POST /api/v1/exchange-rates/import/`` takes the ECB's XML or CSV file (multipart ``file``).
Both release the transactions waiting for a rate.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from integrator import money
from integrator.api.errors import ErrorBodySerializer
from integrator.api.views import ERRORS, CoreViewSetMixin
from integrator.choices import RateSource
from integrator.models import ExchangeRate
from integrator.services.rates import import_reference_rates, record_rate

__all__ = ["ExchangeRateSerializer", "ExchangeRateViewSet", "register"]


class ExchangeRateSerializer(serializers.ModelSerializer):
    """1 ``base`` = ``rate`` ``quote`` on ``day``, with where it came from. Creating one makes a
    manual rate (``source`` is set by the server); ``note`` says where a person's rate comes from."""

    class Meta:
        model = ExchangeRate
        fields = [
            "id",
            "base",
            "quote",
            "day",
            "rate",
            "source",
            "provider",
            "connection",
            "note",
            "created_at",
        ]
        read_only_fields = ["id", "source", "provider", "connection", "created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Known, different currencies; a positive rate; a note."""
        for name in ("base", "quote"):
            attrs[name] = str(attrs[name]).upper()
            if not money.is_known_currency(attrs[name]):
                raise serializers.ValidationError({name: f"{attrs[name]} is not an ISO-4217 currency"})
        if attrs["base"] == attrs["quote"]:
            raise serializers.ValidationError({"quote": "choose another currency than base"})
        if attrs["rate"] <= 0:
            raise serializers.ValidationError({"rate": "a rate must be greater than zero"})
        if not str(attrs.get("note") or "").strip():
            raise serializers.ValidationError({"note": "say where the rate comes from"})
        return attrs


class RateImportSerializer(serializers.Serializer):
    """The ECB's file (eurofxref-daily.xml, eurofxref-hist.xml, eurofxref.csv, eurofxref-hist.csv)."""

    file = serializers.FileField()


class RateImportResultSerializer(serializers.Serializer):
    """What an import read and stored."""

    rates = serializers.IntegerField()
    new = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    days = serializers.IntegerField()


class ExchangeRateViewSet(
    CoreViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """The rate table: reference rates, ledgers' rates and people's rates, newest first."""

    queryset = ExchangeRate.objects.all().order_by("-day", "base", "quote")
    serializer_class = ExchangeRateSerializer
    filterset_fields = ["base", "quote", "source", "day"]
    ordering_fields = ["day", "created_at"]
    action_permissions = {
        "create": "integrator.change_exchangerate",
        "import_file": "integrator.add_exchangerate",
    }

    def perform_create(self, serializer: Any) -> None:
        """A manual rate, through the service (audited, releases what waits for it)."""
        data = serializer.validated_data
        row, _ = record_rate(data["base"], data["quote"], data["day"], data["rate"], source=RateSource.MANUAL,
                             provider=self.request.user.get_username(), actor=self.request.user,
                             note=data.get("note", ""))  # fmt: skip
        serializer.instance = row

    @extend_schema(
        request={"multipart/form-data": RateImportSerializer},
        responses={201: RateImportResultSerializer, 400: ErrorBodySerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser])
    def import_file(self, request: Request) -> Response:
        """Import the ECB's euro reference rates (idempotent, audited)."""
        payload = RateImportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            result = import_reference_rates(
                payload.validated_data["file"].read(), actor=request.user, provider="ECB"
            )
        except ValueError as exc:
            raise serializers.ValidationError({"file": str(exc)}) from exc
        return Response(RateImportResultSerializer(result).data, status=status.HTTP_201_CREATED)


def register(router: BaseRouter) -> None:
    """Add the exchange-rate routes."""
    router.register("exchange-rates", ExchangeRateViewSet)
