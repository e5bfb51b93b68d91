"""API for mappings: mapping sets, versions, change requests (approve / reject), re-postings and
held transactions. Thin over :mod:`integrator.services.mapping_changes` and
:mod:`integrator.services.reposting`, which enforce maker-checker whatever the client does: a
request the service refuses is answered 403 (not allowed), 409 (wrong state) or 400 (invalid).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from integrator.choices import TransactionStatus
from integrator.models import (
    LedgerAccount,
    MappingChangeItem,
    MappingChangeRequest,
    MappingChangeTarget,
    MappingRule,
    MappingSet,
    MappingVersion,
    RepostRequest,
    RepostResult,
    TaxCode,
    Transaction,
)
from integrator.services import mapping_changes as svc
from integrator.services import reposting

__all__ = [
    "HeldTransactionViewSet",
    "MappingChangeRequestViewSet",
    "MappingSetViewSet",
    "MappingVersionViewSet",
    "RepostRequestViewSet",
    "register",
]


# -- serializers ---------------------------------------------------------------------------------


class MappingRuleSerializer(serializers.ModelSerializer):
    """A rule of a version, with its account and tax code by code."""

    account_code = serializers.CharField(source="account.code", read_only=True)
    tax_code_code = serializers.CharField(source="tax_code.code", read_only=True, default="")

    class Meta:
        model = MappingRule
        fields = [
            "id",
            "kind",
            "match_field",
            "match_value",
            "account",
            "account_code",
            "tax_code",
            "tax_code_code",
            "item_ref",
        ]
        read_only_fields = fields


class MappingVersionSerializer(serializers.ModelSerializer):
    """A numbered version with who drafted and approved it, why, and its rules."""

    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    approved_by = serializers.CharField(source="approved_by.username", read_only=True, default=None)
    rules = MappingRuleSerializer(many=True, read_only=True)

    class Meta:
        model = MappingVersion
        fields = [
            "id",
            "mapping_set",
            "number",
            "status",
            "effective_from",
            "note",
            "created_by",
            "approved_by",
            "activated_at",
            "created_at",
            "rules",
        ]
        read_only_fields = fields


class MappingSetSerializer(serializers.ModelSerializer):
    """The mappings of one channel into one ledger connection."""

    channel_slug = serializers.CharField(source="channel.slug", read_only=True)
    current_version = serializers.SerializerMethodField()

    class Meta:
        model = MappingSet
        fields = [
            "id",
            "channel",
            "channel_slug",
            "connection",
            "discount_mode",
            "current_version",
            "created_at",
        ]
        read_only_fields = fields

    def get_current_version(self, obj: MappingSet) -> int | None:
        """Number of the latest active version."""
        version = svc.current_version(obj)
        return version.number if version else None


class MappingChangeItemSerializer(serializers.ModelSerializer):
    """One rule a change adds, changes or removes. ``action`` may be left out: it is then "add" or
    "edit" depending on whether the rule exists."""

    action = serializers.ChoiceField(choices=["add", "edit", "remove"], required=False, allow_blank=True)
    account = serializers.PrimaryKeyRelatedField(
        queryset=LedgerAccount.objects.all(), required=False, allow_null=True
    )
    tax_code = serializers.PrimaryKeyRelatedField(
        queryset=TaxCode.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = MappingChangeItem
        fields = ["id", "action", "kind", "match_field", "match_value", "account", "tax_code", "item_ref"]
        read_only_fields = ["id"]
        extra_kwargs = {"match_value": {"required": False}, "item_ref": {"required": False}}
        validators: list[Any] = []  # uniqueness is the service's business (it upserts by rule)


class MappingChangeTargetSerializer(serializers.ModelSerializer):
    """Another channel a change covers: its mapping set, its diff, and the version it got."""

    channel_slug = serializers.CharField(source="mapping_set.channel.slug", read_only=True)
    version_number = serializers.IntegerField(source="version.number", read_only=True, default=None)

    class Meta:
        model = MappingChangeTarget
        fields = ["mapping_set", "channel_slug", "diff", "version", "version_number", "repost"]
        read_only_fields = fields


class MappingChangeRequestSerializer(serializers.ModelSerializer):
    """A change request with its items, the frozen diff and the open changes it conflicts with.

    ``also_mapping_sets`` (write) lists other mapping sets of the same ledger the change covers
    too; ``targets`` (read) shows them with their own diffs and, once approved, their versions."""

    author = serializers.CharField(source="author.username", read_only=True)
    also_mapping_sets = serializers.PrimaryKeyRelatedField(
        queryset=MappingSet.objects.select_related("channel"), many=True, required=False, write_only=True
    )
    targets = MappingChangeTargetSerializer(many=True, read_only=True)
    reviewer = serializers.CharField(source="reviewer.username", read_only=True, default=None)
    version_number = serializers.IntegerField(source="version.number", read_only=True, default=None)
    items = MappingChangeItemSerializer(many=True, required=False)
    conflicts = serializers.SerializerMethodField()

    class Meta:
        model = MappingChangeRequest
        fields = [
            "id",
            "mapping_set",
            "title",
            "reason",
            "status",
            "effective_from",
            "base_version",
            "version",
            "version_number",
            "diff",
            "author",
            "reviewer",
            "review_comment",
            "submitted_at",
            "decided_at",
            "created_at",
            "updated_at",
            "items",
            "also_mapping_sets",
            "targets",
            "conflicts",
        ]
        read_only_fields = [
            "status",
            "base_version",
            "version",
            "diff",
            "review_comment",
            "submitted_at",
            "decided_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"effective_from": {"required": False}}

    def get_conflicts(self, obj: MappingChangeRequest) -> list[dict[str, Any]]:
        """Other open changes touching the same rules."""
        if not obj.is_open:
            return []
        return [
            {
                "change": str(c["change"].pk),
                "title": c["change"].title,
                "author": c["change"].author.username,
                "status": c["change"].status,
                "rules": c["rules"],
            }
            for c in svc.conflicting_changes(obj)
        ]


class DecisionSerializer(serializers.Serializer):
    """A reviewer's decision: a comment (required to reject) and, for a past effective date, the
    confirmation that the documents booked since then will be re-posted."""

    comment = serializers.CharField(required=False, allow_blank=True, default="")
    confirm_reposting = serializers.BooleanField(required=False, default=False)


class RepostResultSerializer(serializers.ModelSerializer):
    """What a re-posting did to one document."""

    original_reference = serializers.CharField(source="original_entry.reference", read_only=True)
    reversal_reference = serializers.CharField(
        source="reversal_entry.reference", read_only=True, default=None
    )
    new_reference = serializers.CharField(source="new_entry.reference", read_only=True, default=None)

    class Meta:
        model = RepostResult
        fields = [
            "id",
            "transaction",
            "original_entry",
            "original_reference",
            "reversal_entry",
            "reversal_reference",
            "new_entry",
            "new_reference",
            "outcome",
            "message",
            "delta",
            "created_at",
        ]
        read_only_fields = fields


class RepostRequestSerializer(serializers.ModelSerializer):
    """A re-posting with its preview and, once executed, the per-document results."""

    version_number = serializers.IntegerField(source="version.number", read_only=True)
    results = RepostResultSerializer(many=True, read_only=True)

    class Meta:
        model = RepostRequest
        fields = [
            "id",
            "mapping_set",
            "change",
            "version",
            "version_number",
            "since",
            "status",
            "preview",
            "requested_by",
            "executed_by",
            "executed_at",
            "created_at",
            "results",
        ]
        read_only_fields = fields


class HeldTransactionSerializer(serializers.ModelSerializer):
    """A transaction held for want of a mapping, with what is missing."""

    channel_slug = serializers.CharField(source="channel.slug", read_only=True)

    class Meta:
        model = Transaction
        fields = [
            "id",
            "channel",
            "channel_slug",
            "kind",
            "external_id",
            "number",
            "business_date",
            "currency",
            "total",
            "status_reasons",
            "created_at",
        ]
        read_only_fields = fields


# -- viewsets ------------------------------------------------------------------------------------


def _refusal(call: Callable[[], Any]) -> Any:
    """Run a service call; translate its refusals into API answers (or return its result)."""
    try:
        return call()
    except PermissionDenied as exc:
        return Response({"detail": str(exc) or "Not allowed."}, status=status.HTTP_403_FORBIDDEN)
    except svc.ItemInvalid as exc:
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    except (svc.MappingChangeError, reposting.RepostError) as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)


class MappingSetViewSet(viewsets.ReadOnlyModelViewSet):
    """Mapping sets: one per (channel, ledger connection)."""

    queryset = MappingSet.objects.select_related("channel", "connection")
    serializer_class = MappingSetSerializer
    filterset_fields = ["channel", "connection"]


class MappingVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Mapping versions with their rules (immutable once active)."""

    queryset = MappingVersion.objects.select_related("created_by", "approved_by").prefetch_related(
        "rules__account", "rules__tax_code"
    )
    serializer_class = MappingVersionSerializer
    filterset_fields = ["mapping_set", "status", "number", "effective_from"]


class MappingChangeRequestViewSet(viewsets.ModelViewSet):
    """Maker-checker change requests: draft (with items), edit while a draft, submit, then a finance
    manager other than the author approves or rejects."""

    queryset = MappingChangeRequest.objects.select_related(
        "author", "reviewer", "version", "mapping_set"
    ).prefetch_related("items", "targets__mapping_set__channel", "targets__version")
    serializer_class = MappingChangeRequestSerializer
    filterset_fields = ["mapping_set", "status", "author"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    _ACTIONS = ("submit", "approve", "reject", "withdraw", "items", "item_detail", "diff", "impact")

    def get_permissions(self) -> Any:
        """Workflow actions are checked by the service (who may approve is not a model permission
        on POST); the rest by model permissions."""
        if self.action in self._ACTIONS:
            return [permissions.IsAuthenticated()]
        return super().get_permissions()

    def _items(self, change: MappingChangeRequest, items: list[dict[str, Any]]) -> None:
        for item in items:
            svc.set_item(
                change,
                actor=self.request.user,
                action=item.get("action") or None,
                kind=item["kind"],
                match_field=item.get("match_field", "default"),
                match_value=item.get("match_value", ""),
                account=item.get("account"),
                tax_code=item.get("tax_code"),
                item_ref=item.get("item_ref", ""),
            )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Draft a change, optionally with its items."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def draft() -> Response:
            with transaction.atomic():
                change = svc.draft_change(
                    data["mapping_set"],
                    actor=request.user,
                    title=data["title"],
                    reason=data.get("reason", ""),
                    effective_from=data.get("effective_from"),
                    also=list(data.get("also_mapping_sets", [])),
                )
                self._items(change, data.get("items", []))
            return Response(self.get_serializer(change).data, status=status.HTTP_201_CREATED)

        result: Response = _refusal(draft)
        return result

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Edit a draft's title, reason or date; items given here are added or replaced."""
        change = self.get_object()
        serializer = self.get_serializer(change, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        def edit() -> Response:
            with transaction.atomic():
                updated = svc.update_change(
                    change,
                    actor=request.user,
                    title=data.get("title"),
                    reason=data.get("reason"),
                    effective_from=data.get("effective_from"),
                )
                if "also_mapping_sets" in data:
                    svc.set_targets(updated, mapping_sets=list(data["also_mapping_sets"]), actor=request.user)
                self._items(updated, data.get("items", []))
            return Response(self.get_serializer(MappingChangeRequest.objects.get(pk=change.pk)).data)

        result: Response = _refusal(edit)
        return result

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """PUT is not offered: use PATCH."""
        return Response({"detail": "Use PATCH."}, status=status.HTTP_405_METHOD_NOT_ALLOWED)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Changes are never deleted (the trail must stay): the author withdraws instead."""
        return Response({"detail": "Withdraw the change instead."}, status=status.HTTP_405_METHOD_NOT_ALLOWED)

    def _decide(self, call: Callable[[MappingChangeRequest], Any]) -> Response:
        change = self.get_object()

        def run() -> Response:
            call(change)
            return Response(self.get_serializer(MappingChangeRequest.objects.get(pk=change.pk)).data)

        result: Response = _refusal(run)
        return result

    @extend_schema(request=MappingChangeItemSerializer, responses=MappingChangeRequestSerializer)
    @action(detail=True, methods=["post"])
    def items(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """Add an item, or replace the item for the same rule (draft only, author only)."""
        serializer = MappingChangeItemSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._decide(lambda c: self._items(c, [serializer.validated_data]))

    @extend_schema(request=None, responses=MappingChangeRequestSerializer)
    @action(detail=True, methods=["delete"], url_path=r"items/(?P<item_id>[0-9a-f-]+)")
    def item_detail(
        self, request: Request, pk: str | None = None, item_id: str = "", **kwargs: Any
    ) -> Response:
        """Remove an item from a draft."""
        change = self.get_object()
        item = change.items.filter(pk=item_id).first()
        if item is None:
            return Response({"detail": "No such item."}, status=status.HTTP_404_NOT_FOUND)
        return self._decide(lambda c: svc.remove_item(c, item, actor=request.user))

    @extend_schema(request=None, responses=MappingChangeRequestSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """Freeze the draft and send it for approval."""
        return self._decide(lambda c: svc.submit_change(c, actor=request.user))

    @extend_schema(request=DecisionSerializer, responses=MappingChangeRequestSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """Approve (a finance manager other than the author): a new version takes effect."""
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._decide(
            lambda c: svc.approve_change(
                c,
                actor=request.user,
                comment=data.validated_data["comment"],
                confirm_reposting=data.validated_data["confirm_reposting"],
            )
        )

    @extend_schema(request=DecisionSerializer, responses=MappingChangeRequestSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """Reject with a comment (a finance manager other than the author)."""
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._decide(
            lambda c: svc.reject_change(c, actor=request.user, comment=data.validated_data["comment"])
        )

    @extend_schema(request=None, responses=MappingChangeRequestSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """The author takes the change back."""
        return self._decide(lambda c: svc.withdraw_change(c, actor=request.user))

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def diff(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """The live diff against the active version (the frozen one is in the change itself)."""
        change = self.get_object()
        if not request.user.has_perm("integrator.view_mappingchangerequest"):
            return Response({"detail": "Not allowed."}, status=status.HTTP_403_FORBIDDEN)
        return Response(
            {"diff": svc.change_diff(change), "conflicts": self.get_serializer(change).data["conflicts"]}
        )

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def impact(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """How many held and recent transactions the change would affect, with examples."""
        change = self.get_object()
        if not request.user.has_perm("integrator.view_mappingchangerequest"):
            return Response({"detail": "Not allowed."}, status=status.HTTP_403_FORBIDDEN)
        p = svc.impact_preview(change)
        return Response(
            {
                "effective_from": p.effective_from,
                "needs_reposting": p.needs_reposting,
                "held": {
                    "total": p.held_total,
                    "released": p.held_resolved,
                    "dated_before": p.held_before_date,
                    "still_missing": p.held_still_missing,
                },
                "recent": {
                    "since": p.recent_since,
                    "checked": p.recent_checked,
                    "affected": p.recent_affected,
                    "unmappable": p.recent_unmappable,
                },
                "samples": [
                    {
                        "transaction": str(s.transaction.pk),
                        "number": s.transaction.number,
                        "before": s.before,
                        "after": s.after,
                        "delta": s.delta,
                        "note": s.note,
                    }
                    for s in p.samples
                ],
            }
        )


class RepostRequestViewSet(viewsets.ReadOnlyModelViewSet):
    """Re-postings created by approving past-dated changes: preview, execute, cancel."""

    queryset = RepostRequest.objects.select_related("version").prefetch_related(
        "results__original_entry", "results__reversal_entry", "results__new_entry"
    )
    serializer_class = RepostRequestSerializer
    filterset_fields = ["mapping_set", "status", "change"]

    def get_permissions(self) -> Any:
        """Executing is checked by the service (execute_repostrequest)."""
        if self.action in ("execute", "cancel"):
            return [permissions.IsAuthenticated()]
        return super().get_permissions()

    @extend_schema(request=None, responses=RepostRequestSerializer)
    @action(detail=True, methods=["post"])
    def execute(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """Post a reversal and a new entry for each affected document in an open period."""
        repost = self.get_object()

        def run() -> Response:
            done = reposting.execute_repost(repost, actor=request.user)
            return Response(self.get_serializer(RepostRequest.objects.get(pk=done.pk)).data)

        result: Response = _refusal(run)
        return result

    @extend_schema(request=DecisionSerializer, responses=RepostRequestSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """Cancel a pending re-posting."""
        repost = self.get_object()
        comment = str(request.data.get("comment", "")) if isinstance(request.data, dict) else ""

        def run() -> Response:
            done = reposting.cancel_repost(repost, actor=request.user, comment=comment)
            return Response(self.get_serializer(done).data)

        result: Response = _refusal(run)
        return result


class HeldTransactionViewSet(viewsets.ReadOnlyModelViewSet):
    """Transactions held as needs_mapping; ``groups`` sums them by missing value."""

    queryset = Transaction.objects.filter(status=TransactionStatus.NEEDS_MAPPING).select_related("channel")
    serializer_class = HeldTransactionSerializer
    filterset_fields = ["channel", "kind", "currency", "business_date"]

    def get_queryset(self) -> QuerySet[Transaction]:
        """Only held transactions."""
        return super().get_queryset().filter(status=TransactionStatus.NEEDS_MAPPING)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"], pagination_class=None)
    def groups(self, request: Request, **kwargs: Any) -> Response:
        """Held transactions grouped by what is missing, with counts and totals per currency."""
        channel = request.query_params.get("channel")
        return Response(
            [
                {
                    "reason": g.reason,
                    "count": g.count,
                    "totals": {c: str(t) for c, t in g.totals.items()},
                    "channels": g.channels,
                    "transactions": [str(pk) for pk in g.transaction_ids],
                }
                for g in svc.held_groups(channel_id=channel or None)
            ]
        )


def register(router: BaseRouter) -> None:
    """Add the mapping resources to the API router (called from ``integrator.api.urls``)."""
    router.register("mapping-sets", MappingSetViewSet)
    router.register("mapping-versions", MappingVersionViewSet)
    router.register("mapping-changes", MappingChangeRequestViewSet)
    router.register("reposts", RepostRequestViewSet)
    router.register("held-transactions", HeldTransactionViewSet, basename="held-transaction")
