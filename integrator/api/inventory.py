"""Inventory in the API: stock levels, shipments (create with lines and costs, receive, add a
cost), reorder suggestions, the stock valuation and the profit report.

``POST /api/v1/inventory/shipments/`` creates a draft shipment with its lines and costs;
``POST .../<id>/receive/`` receives it at landed cost; ``POST .../<id>/costs/`` adds a cost (a
late cost once received). ``GET /api/v1/inventory/valuation/?as_of=`` and
``GET /api/v1/inventory/profit/?start=&end=&group=`` are the reports of the screens.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from integrator import money
from integrator.api.pagination import cursor_by
from integrator.api.views import ERRORS, CoreViewSetMixin
from integrator.models import (
    InventoryBook,
    Product,
    ReorderSuggestion,
    Shipment,
    ShipmentCost,
    StockLevel,
    Supplier,
)
from integrator.services.inventory.landed import add_cost, create_shipment, receive_shipment
from integrator.services.inventory.valuation import stock_valuation
from integrator.services.profit import GROUPS, profit_report
from integrator.services.rates import NeedsRate
from integrator.services.tax_engine.report import tax_report

__all__ = ["register"]


class StockLevelSerializer(serializers.ModelSerializer):
    """Units of a product at a location, its reorder point and whether it is below it."""

    sku = serializers.CharField(source="product.sku", read_only=True)
    unit = serializers.CharField(source="product.unit", read_only=True)

    class Meta:
        model = StockLevel
        fields = [
            "id",
            "sku",
            "unit",
            "location",
            "quantity",
            "reorder_point",
            "below",
            "breach",
            "updated_at",
        ]


class ShipmentLineSerializer(serializers.Serializer):
    """A supplier invoice line (SKU, quantity, unit price in the supplier's currency) and, once
    received, its landed figures."""

    sku = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=14, decimal_places=4, min_value=0)
    unit_price = serializers.DecimalField(max_digits=18, decimal_places=6, min_value=0)
    unit_weight = serializers.DecimalField(max_digits=14, decimal_places=4, required=False, allow_null=True)
    unit_volume = serializers.DecimalField(max_digits=14, decimal_places=4, required=False, allow_null=True)
    goods_value = serializers.DecimalField(max_digits=18, decimal_places=4, read_only=True)
    landed_value = serializers.DecimalField(max_digits=18, decimal_places=4, read_only=True)
    landed_unit_cost = serializers.DecimalField(max_digits=18, decimal_places=6, read_only=True)


class ShipmentCostSerializer(serializers.ModelSerializer):
    """A cost in its own currency (``rate``: agreed functional units per unit; blank: the table's)."""

    class Meta:
        model = ShipmentCost
        fields = ["id", "kind", "description", "currency", "amount", "rate", "basis", "paid_through",
                  "invoice_date", "functional_amount", "late"]  # fmt: skip
        read_only_fields = ["id", "functional_amount", "late"]

    def validate_currency(self, value: str) -> str:
        """A known currency."""
        if not money.is_known_currency(value.upper()):
            raise serializers.ValidationError(f"{value} is not an ISO-4217 currency")
        return value.upper()


class ShipmentSerializer(serializers.ModelSerializer):
    """A shipment with its lines and costs; created as a draft."""

    supplier = serializers.CharField(source="supplier.name")
    lines = serializers.SerializerMethodField()
    new_lines = ShipmentLineSerializer(many=True, write_only=True, source="lines_in")
    costs = ShipmentCostSerializer(many=True, required=False)

    class Meta:
        model = Shipment
        fields = ["id", "reference", "supplier", "currency", "invoice_number", "invoice_date", "invoice_rate",
                  "location", "status", "received_on", "lines", "new_lines", "costs", "created_at"]  # fmt: skip
        read_only_fields = ["id", "status", "received_on", "created_at"]

    def get_lines(self, obj: Shipment) -> list[dict[str, Any]]:
        """The lines with their landed figures."""
        return [
            {
                "sku": ln.product.sku,
                "quantity": str(ln.quantity),
                "unit_price": str(ln.unit_price),
                "goods_value": None if ln.goods_value is None else str(ln.goods_value),
                "landed_value": None if ln.landed_value is None else str(ln.landed_value),
                "landed_unit_cost": None if ln.landed_unit_cost is None else str(ln.landed_unit_cost),
            }
            for ln in obj.lines.select_related("product")
        ]

    def validate_currency(self, value: str) -> str:
        """A known currency."""
        if not money.is_known_currency(value.upper()):
            raise serializers.ValidationError(f"{value} is not an ISO-4217 currency")
        return value.upper()


class ReorderSuggestionSerializer(serializers.ModelSerializer):
    """A reorder suggestion of one breach."""

    sku = serializers.CharField(source="level.product.sku", read_only=True)
    location = serializers.CharField(source="level.location", read_only=True)

    class Meta:
        model = ReorderSuggestion
        fields = ["id", "sku", "location", "breach", "quantity", "level_quantity", "reorder_point",
                  "daily_velocity", "status", "purchase_order", "notified_at", "created_at"]  # fmt: skip


def _book() -> InventoryBook:
    book = InventoryBook.objects.select_related("connection", "inventory_account").first()
    if book is None:
        raise ValidationError({"inventory": ["no inventory book is set up"]})
    return book


def _day(request: Request, name: str, default: date) -> date:
    raw = request.query_params.get(name, "")
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationError({name: ["Use YYYY-MM-DD."]}) from exc


class StockLevelViewSet(CoreViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Stock levels per product and location."""

    queryset = StockLevel.objects.select_related("product").order_by("product__sku", "location")
    serializer_class = StockLevelSerializer
    filterset_fields = ["location", "below"]
    pagination_class = cursor_by("-id")


class ShipmentViewSet(
    CoreViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    """Import shipments: create (draft), receive, add costs."""

    queryset = Shipment.objects.select_related("supplier").prefetch_related("costs").order_by("-invoice_date")
    serializer_class = ShipmentSerializer
    filterset_fields = ["status", "currency"]
    action_permissions = {"receive": "integrator.change_shipment", "add_cost": "integrator.change_shipment"}

    def perform_create(self, serializer: Any) -> None:
        """Through the service (atomic, audited)."""
        data = serializer.validated_data
        skus = {ln["sku"] for ln in data["lines_in"]}
        products = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
        unknown = sorted(skus - products.keys())
        if unknown:
            raise ValidationError({"new_lines": [f"no product with SKU {', '.join(unknown)}"]})
        supplier, _ = Supplier.objects.get_or_create(
            name=data["supplier"]["name"], defaults={"currency": data["currency"]}
        )
        try:
            serializer.instance = create_shipment(
                _book(), reference=data["reference"], supplier=supplier, invoice_date=data["invoice_date"],
                currency=data["currency"], invoice_rate=data.get("invoice_rate"),
                invoice_number=data.get("invoice_number", ""), location=data.get("location", ""),
                lines=[{**ln, "product": products[ln["sku"]]} for ln in data["lines_in"]],
                costs=[dict(c) for c in data.get("costs", [])], actor=self.request.user,
            )  # fmt: skip
        except (ValueError, NeedsRate) as exc:
            raise ValidationError({"shipment": [getattr(exc, "reason", "") or str(exc)]}) from exc

    @extend_schema(request=None, responses={200: ShipmentSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def receive(self, request: Request, pk: Any = None) -> Response:
        """Receive the shipment into stock at landed cost and post it (idempotent)."""
        shipment = self.get_object()
        try:
            shipment = receive_shipment(
                shipment, on=_day(request, "on", shipment.invoice_date), actor=request.user
            )
        except (ValueError, NeedsRate) as exc:
            raise ValidationError({"shipment": [getattr(exc, "reason", "") or str(exc)]}) from exc
        return Response(ShipmentSerializer(shipment).data)

    @extend_schema(request=ShipmentCostSerializer, responses={201: ShipmentCostSerializer, **ERRORS})
    @action(detail=True, methods=["post"], url_path="costs")
    def add_cost(self, request: Request, pk: Any = None) -> Response:
        """Add a cost (a late cost once the shipment is received)."""
        shipment = self.get_object()
        payload = ShipmentCostSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        try:
            cost = add_cost(shipment, actor=request.user, **data)
        except (ValueError, NeedsRate) as exc:
            raise ValidationError({"cost": [getattr(exc, "reason", "") or str(exc)]}) from exc
        return Response(ShipmentCostSerializer(cost).data, status=status.HTTP_201_CREATED)


class ReorderSuggestionViewSet(CoreViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Reorder suggestions, newest first."""

    queryset = ReorderSuggestion.objects.select_related("level__product").order_by("-created_at")
    serializer_class = ReorderSuggestionSerializer
    filterset_fields = ["status"]


class InventoryReportViewSet(CoreViewSetMixin, viewsets.GenericViewSet):
    """The stock valuation and the profit report."""

    queryset = StockLevel.objects.none()
    filter_backends = ()
    pagination_class = None
    action_permissions = {
        "valuation": "integrator.view_shipment",
        "profit": "integrator.view_shipment",
        "tax": "integrator.view_shipment",
    }

    @extend_schema(
        parameters=[OpenApiParameter("start", str), OpenApiParameter("end", str)],
        responses={200: dict, **ERRORS},
    )
    @action(detail=False, methods=["get"])
    def tax(self, request: Request) -> Response:
        """Tax per code over a period, with each tax account's ledger movement."""
        end = _day(request, "end", date.today())
        report = tax_report(_book().connection, _day(request, "start", end.replace(day=1)), end)
        return Response({
            "start": report.start, "end": report.end, "currency": report.currency,
            "rows": [{"code": r.code, "account": r.account, "base": str(r.base), "tax": str(r.tax)} for r in report.rows],
            "ledger": None if report.ledger is None else {k: str(v) for k, v in report.ledger.items()},
            "reconciles": report.reconciles, "checks": report.checks, "differences": report.differences,
        })  # fmt: skip

    @extend_schema(parameters=[OpenApiParameter("as_of", str)], responses={200: dict, **ERRORS})
    @action(detail=False, methods=["get"])
    def valuation(self, request: Request) -> Response:
        """Stock per product at ``as_of`` and the inventory account it reconciles to."""
        result = stock_valuation(_book(), _day(request, "as_of", date.today()))

        def m(value: Any) -> str | None:
            return None if value is None else str(money.quantize(value, result.currency))

        return Response({
            "as_of": result.as_of, "currency": result.currency, "total": m(result.total),
            "journal_balance": m(result.journal_balance), "ledger_balance": m(result.ledger_balance),
            "reconciles": result.reconciles,
            "rows": [{"sku": r.sku, "name": r.name, "quantity": str(r.quantity), "value": m(r.value),
                      "unit_cost": None if r.unit_cost is None else str(r.unit_cost)} for r in result.rows],
        })  # fmt: skip

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str),
            OpenApiParameter("end", str),
            OpenApiParameter("group", str),
        ],
        responses={200: dict, **ERRORS},
    )
    @action(detail=False, methods=["get"])
    def profit(self, request: Request) -> Response:
        """Profit by product, category, channel or month over a period."""
        group = request.query_params.get("group", "product")
        if group not in GROUPS:
            raise ValidationError({"group": [f"one of {', '.join(GROUPS)}"]})
        end = _day(request, "end", date.today())
        report = profit_report(
            _book().connection, _day(request, "start", end.replace(day=1)), end, group_by=group
        )

        def row(r: Any) -> dict[str, Any]:
            return {"key": r.key, "label": r.label, "quantity": str(r.quantity), "revenue": str(r.revenue),
                    "discounts": str(r.discounts), "refunds": str(r.refunds), "net_revenue": str(r.net_revenue),
                    "cogs": str(r.cogs), "fees": str(r.fees), "gross_margin": str(r.gross_margin),
                    "margin_percent": None if r.margin_percent is None else str(r.margin_percent)}  # fmt: skip

        return Response({
            "start": report.start, "end": report.end, "group": group, "currency": report.currency,
            "rows": [row(r) for r in report.rows], "total": row(report.total()),
            "journal_revenue": str(report.journal_revenue), "journal_cogs": str(report.journal_cogs),
            "reconciles": report.reconciles,
        })  # fmt: skip


def register(router: BaseRouter) -> None:
    """Add the inventory routes."""
    router.register("inventory/stock-levels", StockLevelViewSet, basename="inventory-stocklevel")
    router.register("inventory/shipments", ShipmentViewSet, basename="inventory-shipment")
    router.register("inventory/reorder-suggestions", ReorderSuggestionViewSet, basename="inventory-reorder")
    router.register("inventory", InventoryReportViewSet, basename="inventory-report")
