"""Setting up through the API: platforms, channels and ledger connections (create, edit, test,
rotate the signing secret, back-fill, archive, delete what has no history), and period close.

The same services as the Setup screens, with the same permissions (model permissions; MFA for
the roles that need it; API tokens can never change connections or credentials, nor close
periods). Credentials go in ``setup`` and never come back: answers list only which keys are
stored. A signing secret we generate is in the answer that made it, once.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from connectors.base import UnknownPlatform
from integrator.api import views as core
from integrator.api.errors import Conflict, ErrorBodySerializer
from integrator.api.serializers import ChannelSerializer, JobSerializer, LedgerConnectionSerializer
from integrator.choices import LockPolicy, PostingMode
from integrator.models import Channel, LedgerConnection, PeriodClose
from integrator.services import channel_setup, ledger_setup, period_close
from integrator.services.setup_fields import SetupInvalid, ledger_platforms, source_platforms
from integrator.services.sync import BackfillRefused, start_backfill

__all__ = ["ChannelSetupViewSet", "LedgerSetupViewSet", "PlatformViewSet"]

ERRORS = {
    400: OpenApiResponse(ErrorBodySerializer, description="Not valid: details per field."),
    403: OpenApiResponse(ErrorBodySerializer, description="Not allowed."),
    404: OpenApiResponse(ErrorBodySerializer, description="No such object."),
    409: OpenApiResponse(ErrorBodySerializer, description="The object's state does not allow it."),
}


def _invalid(exc: SetupInvalid) -> ValidationError:
    return ValidationError({k: [v] for k, v in exc.errors.items()})


# -- platforms ------------------------------------------------------------------------------------


class SetupFieldSerializer(serializers.Serializer):
    """One thing a platform asks for when it is connected."""

    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # popped by DRF's metaclass
    kind = serializers.CharField()
    store = serializers.CharField()
    # DRF takes declared fields off the class, so these names do not shadow Field's attributes.
    required = serializers.BooleanField()  # type: ignore[assignment]
    help = serializers.CharField()
    default = serializers.JSONField(allow_null=True)
    choices = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    write_only = serializers.BooleanField(help_text="Credentials and secrets are never returned.")  # type: ignore[assignment]


class PlatformSerializer(serializers.Serializer):
    """A platform whose connector is installed, with the fields its ``setup`` takes."""

    kind = serializers.ChoiceField(choices=["source", "ledger"])
    slug = serializers.CharField()
    name = serializers.CharField()
    capabilities = serializers.ListField(child=serializers.CharField())
    uses_oauth = serializers.BooleanField()
    webhook_secret = serializers.ChoiceField(
        choices=["generated", "vendor", "none"],
        help_text="generated: we make it (returned once); vendor: put the platform's in setup.webhook_secret.",
    )
    fields = SetupFieldSerializer(many=True)  # type: ignore[assignment]  # popped by DRF's metaclass


def _platform_row(p: Any) -> dict[str, Any]:
    secret = "generated" if p.we_issue_secret else "vendor" if p.vendor_issues_secret else "none"
    fields = [{"name": f.name, "label": f.label, "kind": f.kind, "store": f.store, "required": f.required,
               "help": f.help, "default": f.default, "choices": [list(c) for c in f.choices],
               "write_only": f.kind == "secret" or f.store == "credentials" or f.name == "webhook_secret"}
              for f in p.fields]  # fmt: skip
    return {"kind": p.kind, "slug": p.slug, "name": p.name, "capabilities": sorted(p.capabilities),
            "uses_oauth": p.uses_oauth, "webhook_secret": secret, "fields": fields}  # fmt: skip


class PlatformViewSet(core.CoreViewSetMixin, viewsets.ViewSet):
    """Platforms that can be connected (their connector is installed) and their setup fields."""

    http_method_names = ["get", "head", "options"]

    def get_permissions(self) -> Any:
        """Seeing the platforms needs the view permission of channels, whatever the verb."""
        from rest_framework.permissions import IsAuthenticated

        from integrator.api.permissions import TokenScopePermission

        return [IsAuthenticated(), TokenScopePermission(), core.HasPermission("integrator.view_channel")]

    @extend_schema(responses={200: PlatformSerializer(many=True), **ERRORS})
    def list(self, request: Request) -> Response:
        """Sources first, then ledgers, in the registry's order."""
        rows = [_platform_row(p) for p in (*source_platforms(), *ledger_platforms())]
        return Response(PlatformSerializer(rows, many=True).data)


# -- channels -------------------------------------------------------------------------------------


class ChannelOutSerializer(ChannelSerializer):
    """A channel as the API shows it: plain settings, which credential keys are stored (never their
    values), the webhook address and how many signing secrets are accepted."""

    credential_keys = serializers.SerializerMethodField()
    signing_secrets_accepted = serializers.SerializerMethodField()
    webhook_url = serializers.SerializerMethodField()

    class Meta(ChannelSerializer.Meta):
        fields = [*ChannelSerializer.Meta.fields, "settings", "archived_at", "previous_secrets_expire_at",
                  "credential_keys", "signing_secrets_accepted", "webhook_url"]  # fmt: skip
        read_only_fields = fields

    def get_credential_keys(self, obj: Channel) -> list[str]:
        """Names of the stored credentials."""
        return sorted((obj.credentials or {}).keys())

    def get_signing_secrets_accepted(self, obj: Channel) -> int:
        """1, or 2 during a rotation's grace period."""
        return len(obj.secrets())

    def get_webhook_url(self, obj: Channel) -> str:
        """Where the platform posts."""
        request = self.context.get("request")
        path = reverse("webhook", args=[obj.slug])
        return request.build_absolute_uri(path) if request is not None else path


class ChannelWriteSerializer(serializers.Serializer):
    """What a channel is created or changed with; ``setup`` holds the platform's fields."""

    platform = serializers.CharField(help_text="A source platform slug (GET /api/v1/platforms/).")
    name = serializers.CharField(max_length=120)
    slug = serializers.SlugField(max_length=60, help_text="The webhook address is /hooks/<slug>/.")
    currency = serializers.CharField(max_length=3, min_length=3)
    timezone = serializers.CharField(max_length=64, default="UTC")
    posting_mode = serializers.ChoiceField(choices=PostingMode.choices, default=PostingMode.PER_TRANSACTION)
    ledger_connection = serializers.PrimaryKeyRelatedField(
        queryset=LedgerConnection.objects.all(), allow_null=True
    )
    active = serializers.BooleanField(
        required=False, help_text="false disables (webhooks refused); true enables."
    )
    setup = serializers.DictField(required=False, write_only=True, default=dict,
                                  help_text="The platform's setup fields; credentials are write-only.")  # fmt: skip


class ChannelCreatedSerializer(ChannelOutSerializer):
    """A channel just made, with the signing secret we generated for it (this once)."""

    webhook_secret = serializers.CharField(required=False, help_text="Shown once; absent for vendor secrets.")

    class Meta(ChannelOutSerializer.Meta):
        fields = [*ChannelOutSerializer.Meta.fields, "webhook_secret"]
        read_only_fields = fields


class RotateSerializer(serializers.Serializer):
    """A new signing secret (the platform's, when it issues them) and the old one's grace period."""

    webhook_secret = serializers.CharField(required=False, allow_blank=True, default="", write_only=True)
    grace_hours = serializers.IntegerField(min_value=0, max_value=720, default=48)


class ConnectionCheckSerializer(serializers.Serializer):
    """The result of "Test connection"."""

    ok = serializers.BooleanField()
    message = serializers.CharField()
    details = serializers.DictField()


class BackfillSerializer(serializers.Serializer):
    """Back-fill from a day."""

    since = serializers.DateField()


def _with_secret(view: Any, channel: Channel, secret: str, *, code: int = status.HTTP_200_OK) -> Response:
    data = dict(ChannelOutSerializer(channel, context=view.get_serializer_context()).data)
    if secret:
        data["webhook_secret"] = secret
    return Response(data, status=code)


class ChannelSetupViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, core.ChannelViewSet
):
    """Sales channels: read, create, change (PATCH), delete an unused one; test, rotate the
    signing secret, back-fill, archive. Secrets are never returned (a generated signing secret
    once, in the answer that made it)."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_permissions = {"destroy": "integrator.change_channel", "test": "integrator.change_channel",
                          "rotate_secret": "integrator.change_channel", "backfill": "integrator.change_channel",
                          "archive": "integrator.change_channel"}  # fmt: skip

    def get_serializer_class(self) -> Any:
        """Writes take ChannelWriteSerializer; reads show ChannelOutSerializer."""
        return ChannelWriteSerializer if self.action in ("create", "partial_update") else ChannelOutSerializer

    @extend_schema(request=ChannelWriteSerializer, responses={201: ChannelCreatedSerializer, **ERRORS})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Set up a channel (audited)."""
        body = ChannelWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        details = channel_setup.ChannelDetails(d["name"], d["slug"], d["currency"].upper(), d["timezone"],
                                               d["posting_mode"], d["ledger_connection"])  # fmt: skip
        try:
            channel, secret = channel_setup.set_up_channel(
                d["platform"], details, d["setup"], actor=request.user
            )
        except UnknownPlatform as exc:
            raise ValidationError({"platform": [str(exc)]}) from exc
        except SetupInvalid as exc:
            raise _invalid(exc) from exc
        return _with_secret(self, channel, secret, code=status.HTTP_201_CREATED)

    @extend_schema(request=ChannelWriteSerializer, responses={200: ChannelOutSerializer, **ERRORS})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change name, slug, currency, time zone, posting, ledger or setup fields (audited)."""
        channel = self.get_object()
        body = ChannelWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        d = dict(body.validated_data)
        if d.pop("platform", channel.platform) != channel.platform:
            raise ValidationError({"platform": ["A channel's platform cannot change: set up a new channel."]})
        setup = d.pop("setup", None)
        active = d.pop("active", None)
        try:
            if d or setup:
                channel = channel_setup.update_channel(
                    channel, details=d, raw_setup=setup, actor=request.user
                )
            if active is not None and active != channel.active:
                channel = channel_setup.set_channel_active(channel, active, actor=request.user)
        except SetupInvalid as exc:
            raise _invalid(exc) from exc
        return _with_secret(self, channel, "")

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """PUT is not offered: use PATCH."""
        return Response({"detail": "Use PATCH."}, status=status.HTTP_405_METHOD_NOT_ALLOWED)

    @extend_schema(responses={204: None, **ERRORS})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete a channel that never received anything (otherwise 409: archive it)."""
        try:
            channel_setup.delete_channel(self.get_object(), actor=request.user)
        except SetupInvalid as exc:
            raise Conflict(" ".join(exc.errors.values())) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ConnectionCheckSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Call the platform with the stored configuration and say what it answered (audited)."""
        check = channel_setup.test_channel(self.get_object(), actor=request.user)
        return Response({"ok": check.ok, "message": check.message, "details": dict(check.details)})

    @extend_schema(request=RotateSerializer, responses={200: ChannelCreatedSerializer, **ERRORS})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        """A new signing secret (generated, returned once; or the platform's, given in the body);
        the previous one is accepted for ``grace_hours`` more."""
        body = RotateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            channel, secret = channel_setup.rotate_webhook_secret(
                self.get_object(), new_secret=body.validated_data["webhook_secret"],
                grace=timedelta(hours=body.validated_data["grace_hours"]), actor=request.user,
            )  # fmt: skip
        except SetupInvalid as exc:
            raise _invalid(exc) from exc
        return _with_secret(self, channel, secret)

    @extend_schema(request=BackfillSerializer, responses={202: JobSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def backfill(self, request: Request, pk: str | None = None) -> Response:
        """Queue a back-fill from a day; follow its progress at /api/v1/jobs/<id>/."""
        body = BackfillSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        since = timezone.make_aware(datetime.combine(body.validated_data["since"], time.min))
        try:
            job = start_backfill(self.get_object(), since, actor=request.user)
        except BackfillRefused as exc:
            raise Conflict(str(exc)) from exc
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: ChannelOutSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        """Disable and archive (history kept); PATCH ``{"active": true}`` restores it."""
        channel = channel_setup.archive_channel(self.get_object(), actor=request.user)
        return _with_secret(self, channel, "")


# -- ledger connections ---------------------------------------------------------------------------


class LedgerOutSerializer(LedgerConnectionSerializer):
    """A ledger connection with its plain settings and which credential keys are stored."""

    credential_keys = serializers.SerializerMethodField()
    connected = serializers.SerializerMethodField()

    class Meta(LedgerConnectionSerializer.Meta):
        fields = [
            *LedgerConnectionSerializer.Meta.fields,
            "settings",
            "archived_at",
            "credential_keys",
            "connected",
        ]
        read_only_fields = fields

    def get_credential_keys(self, obj: LedgerConnection) -> list[str]:
        """Names of the stored credentials (tokens included), never their values."""
        return sorted((obj.credentials or {}).keys())

    def get_connected(self, obj: LedgerConnection) -> bool:
        """Signed in to the vendor (OAuth) or nothing to sign in to."""
        creds = obj.credentials or {}
        return bool(creds.get("refresh_token")) or obj.platform == "builtin"


class LedgerWriteSerializer(serializers.Serializer):
    """What a ledger connection is created or changed with; ``setup`` holds the platform's fields."""

    platform = serializers.CharField(help_text="A ledger platform slug (GET /api/v1/platforms/).")
    name = serializers.CharField(max_length=120)
    functional_currency = serializers.CharField(max_length=3, min_length=3)
    lock_policy = serializers.ChoiceField(choices=LockPolicy.choices, default=LockPolicy.HOLD)
    active = serializers.BooleanField(
        required=False, help_text="false disables (postings wait); true enables."
    )
    setup = serializers.DictField(required=False, write_only=True, default=dict)


class CloseCheckSerializer(serializers.Serializer):
    """One check of a period close."""

    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # popped by DRF's metaclass
    ok = serializers.BooleanField()
    count = serializers.IntegerField()
    detail = serializers.CharField()
    url = serializers.CharField()
    explanation = serializers.CharField()


class PeriodStatusSerializer(serializers.Serializer):
    """A month of a connection: its checks and whether it is closed."""

    period_start = serializers.DateField()
    period_end = serializers.DateField()
    covers_from = serializers.DateField(allow_null=True)
    closed = serializers.BooleanField()
    ended = serializers.BooleanField()
    ready = serializers.BooleanField()
    checks = CloseCheckSerializer(many=True)


class PeriodCloseSerializer(serializers.ModelSerializer):
    """A closing (or reopening) of a month, with the checks as they were."""

    closed_by = serializers.CharField(source="closed_by.username", read_only=True)
    reopened_by = serializers.CharField(source="reopened_by.username", read_only=True, default=None)

    class Meta:
        model = PeriodClose
        fields = ["id", "connection", "period_start", "period_end", "status", "checks", "previous_lock_date",
                  "closed_by", "closed_at", "reopened_by", "reopened_at", "reopen_reason"]  # fmt: skip
        read_only_fields = fields


class MonthSerializer(serializers.Serializer):
    """A month as ``YYYY-MM``."""

    month = serializers.RegexField(r"^\d{4}-(0[1-9]|1[0-2])$", help_text="YYYY-MM")

    def ym(self) -> tuple[int, int]:
        """(year, month)."""
        year, month = str(self.validated_data["month"]).split("-")
        return int(year), int(month)


class CloseSerializer(MonthSerializer):
    """Close a month; explain each check that is not green (check key -> why)."""

    explanations = serializers.DictField(child=serializers.CharField(), required=False, default=dict)


class ReopenSerializer(MonthSerializer):
    """Reopen a month, with the reason."""

    reason = serializers.CharField(min_length=10)


_MONTH = OpenApiParameter("month", str, required=True, description="YYYY-MM")


class LedgerSetupViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin,
                         core.LedgerConnectionViewSet):  # fmt: skip
    """Ledger connections: read, create, change, delete an unused one; test, archive; period close
    (checks, close, reopen) and the ledger's own lock date. Connect OAuth ledgers (QuickBooks, Xero)
    with the screen's Connect button: the vendor's consent needs a person in a browser."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_permissions = {
        "destroy": "integrator.change_ledgerconnection", "test": "integrator.change_ledgerconnection",
        "archive": "integrator.change_ledgerconnection", "read_lock_date": "integrator.change_ledgerconnection",
        "period": "integrator.view_periodclose", "close_period": period_close.CLOSE_PERMISSION,
        "reopen_period": period_close.REOPEN_PERMISSION,
    }  # fmt: skip

    def get_serializer_class(self) -> Any:
        """Writes take LedgerWriteSerializer; reads show LedgerOutSerializer."""
        return LedgerWriteSerializer if self.action in ("create", "partial_update") else LedgerOutSerializer

    @extend_schema(request=LedgerWriteSerializer, responses={201: LedgerOutSerializer, **ERRORS})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Set up a ledger connection (audited)."""
        body = LedgerWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        try:
            conn = ledger_setup.set_up_ledger_connection(
                d["platform"], name=d["name"], functional_currency=d["functional_currency"],
                lock_policy=d["lock_policy"], raw_setup=d["setup"], actor=request.user,
            )  # fmt: skip
        except UnknownPlatform as exc:
            raise ValidationError({"platform": [str(exc)]}) from exc
        except SetupInvalid as exc:
            raise _invalid(exc) from exc
        return Response(LedgerOutSerializer(conn).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=LedgerWriteSerializer, responses={200: LedgerOutSerializer, **ERRORS})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change name, currency, closed-period policy or setup fields (audited)."""
        conn = self.get_object()
        body = LedgerWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        d = dict(body.validated_data)
        if d.pop("platform", conn.platform) != conn.platform:
            raise ValidationError({"platform": ["A connection's platform cannot change."]})
        setup = d.pop("setup", None)
        active = d.pop("active", None)
        try:
            if d or setup:
                conn = ledger_setup.update_ledger_connection(
                    conn, details=d, raw_setup=setup, actor=request.user
                )
            if active is not None and active != conn.active:
                conn = ledger_setup.set_ledger_connection_active(conn, active, actor=request.user)
        except SetupInvalid as exc:
            raise _invalid(exc) from exc
        return Response(LedgerOutSerializer(conn).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """PUT is not offered: use PATCH."""
        return Response({"detail": "Use PATCH."}, status=status.HTTP_405_METHOD_NOT_ALLOWED)

    @extend_schema(responses={204: None, **ERRORS})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete a connection nothing uses (otherwise 409: archive it)."""
        try:
            ledger_setup.delete_ledger_connection(self.get_object(), actor=request.user)
        except SetupInvalid as exc:
            raise Conflict(" ".join(exc.errors.values())) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ConnectionCheckSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Call the ledger with the stored configuration and say what it answered (audited)."""
        check = ledger_setup.test_ledger_connection(self.get_object(), actor=request.user)
        return Response({"ok": check.ok, "message": check.message, "details": dict(check.details)})

    @extend_schema(request=None, responses={200: LedgerOutSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        """Disable and archive (refused while active channels post to it)."""
        try:
            conn = ledger_setup.archive_ledger_connection(self.get_object(), actor=request.user)
        except SetupInvalid as exc:
            raise Conflict(" ".join(exc.errors.values())) from exc
        return Response(LedgerOutSerializer(conn).data)

    @extend_schema(request=None, responses={200: LedgerOutSerializer, **ERRORS})
    @action(detail=True, methods=["post"], url_path="read-lock-date")
    def read_lock_date(self, request: Request, pk: str | None = None) -> Response:
        """Read the ledger's own lock date now (kept as ``remote_lock_date``)."""
        from connectors.base import ConnectorError

        conn = self.get_object()
        try:
            period_close.read_ledger_lock_date(conn, actor=request.user)
        except ConnectorError as exc:
            raise Conflict(f"The ledger did not answer: {exc.vendor_message or exc.message}") from exc
        conn.refresh_from_db()
        return Response(LedgerOutSerializer(conn).data)

    @extend_schema(parameters=[_MONTH], responses={200: PeriodStatusSerializer, **ERRORS})
    @action(detail=True, methods=["get"])
    def period(self, request: Request, pk: str | None = None) -> Response:
        """A month's close checks (``?month=YYYY-MM``)."""
        query = MonthSerializer(data={"month": request.query_params.get("month", "")})
        query.is_valid(raise_exception=True)
        status_ = period_close.period_status(self.get_object(), *query.ym())
        return Response(PeriodStatusSerializer({
            "period_start": status_.period_start, "period_end": status_.period_end,
            "covers_from": status_.covers_from, "closed": status_.closed, "ended": status_.ended,
            "ready": status_.ready, "checks": [vars(c) for c in status_.checks],
        }).data)  # fmt: skip

    @extend_schema(request=CloseSerializer, responses={200: PeriodCloseSerializer, **ERRORS})
    @action(detail=True, methods=["post"], url_path="close-period")
    def close_period(self, request: Request, pk: str | None = None) -> Response:
        """Close a month (finance managers): checks green or explained; the lock date moves."""
        body = CloseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            record = period_close.close_period(
                self.get_object(),
                *body.ym(),
                explanations=body.validated_data["explanations"],
                actor=request.user,
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        except period_close.CloseRefused as exc:
            if exc.errors:
                raise ValidationError({"explanations": exc.errors}) from exc
            raise Conflict(str(exc)) from exc
        return Response(PeriodCloseSerializer(record).data)

    @extend_schema(request=ReopenSerializer, responses={200: PeriodCloseSerializer, **ERRORS})
    @action(detail=True, methods=["post"], url_path="reopen-period")
    def reopen_period(self, request: Request, pk: str | None = None) -> Response:
        """Reopen a closed month (finance managers, with a reason)."""
        body = ReopenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            record = period_close.reopen_period(
                self.get_object(), *body.ym(), reason=body.validated_data["reason"], actor=request.user
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        except period_close.CloseRefused as exc:
            raise Conflict(str(exc)) from exc
        return Response(PeriodCloseSerializer(record).data)
