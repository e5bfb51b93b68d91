"""Re-processing inbox events through the API: one (answered at once) or many (a Job)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from integrator.api import views as core
from integrator.api.errors import Conflict, ErrorBodySerializer
from integrator.api.serializers import JobSerializer
from integrator.filters import InboundEventFilterSet
from integrator.models import InboundEvent
from integrator.services.recovery import MAX_BULK, REPROCESSABLE, reprocess_event, start_bulk_reprocess

__all__ = ["InboundEventRecoveryViewSet"]

ERRORS = {
    400: OpenApiResponse(ErrorBodySerializer, description="Not valid."),
    403: OpenApiResponse(ErrorBodySerializer, description="Not allowed."),
    404: OpenApiResponse(ErrorBodySerializer, description="No such event."),
    409: OpenApiResponse(ErrorBodySerializer, description="The event is neither quarantined nor failed."),
}


class ReprocessOutcomeSerializer(serializers.Serializer):
    """What re-processing one event did."""

    id = serializers.CharField(source="event_id")
    before = serializers.CharField()
    after = serializers.CharField()
    error = serializers.CharField()
    transactions = serializers.ListField(child=serializers.CharField())
    skipped = serializers.CharField(help_text="Why nothing was done ('' when it was re-processed).")
    recovered = serializers.BooleanField()


class BulkReprocessSerializer(serializers.Serializer):
    """Which events to re-process: ids, or the inbox filters (``status``, ``channel``, ``q``,
    ``received_at_after``, ``received_at_before``); only quarantined and failed ones are taken."""

    ids = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=MAX_BULK)
    filters = serializers.DictField(child=serializers.CharField(), required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """One or the other."""
        if not attrs.get("ids") and not attrs.get("filters"):
            raise serializers.ValidationError("Give the ids of the events, or filters.")
        return attrs


class InboundEventRecoveryViewSet(core.InboundEventViewSet):
    """The inbox, with re-processing of quarantined and failed events (audited, exactly once)."""

    action_permissions = {"reprocess": "integrator.change_inboundevent",
                          "reprocess_many": "integrator.change_inboundevent"}  # fmt: skip

    @extend_schema(request=None, responses={200: ReprocessOutcomeSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def reprocess(self, request: Request, pk: str | None = None) -> Response:
        """Re-process one quarantined or failed event now (409 for an event in another state)."""
        event = self.get_object()
        if event.status not in REPROCESSABLE:
            raise Conflict(
                f"this event is {event.status}: only quarantined or failed events are re-processed"
            )
        outcome = reprocess_event(event, actor=request.user)
        return Response(ReprocessOutcomeSerializer(outcome).data)

    @extend_schema(
        operation_id="v1_inbound_events_reprocess_many",
        request=BulkReprocessSerializer,
        responses={202: JobSerializer, **ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="reprocess")
    def reprocess_many(self, request: Request) -> Response:
        """Re-process many events in the worker; follow the Job at /api/v1/jobs/<id>/."""
        body = BulkReprocessSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        events = InboundEvent.objects.all()
        if body.validated_data.get("ids"):
            events = events.filter(pk__in=body.validated_data["ids"])
        if body.validated_data.get("filters"):
            events = InboundEventFilterSet(body.validated_data["filters"], queryset=events).qs
        ids = list(
            events.filter(status__in=REPROCESSABLE)
            .order_by("received_at")
            .values_list("pk", flat=True)[:MAX_BULK]
        )
        job = start_bulk_reprocess(ids, actor=request.user)
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
