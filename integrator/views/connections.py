"""Connections: channels and ledger connections, with their health.

Health comes from what the database knows, so it is the same in every process: the token expiry
stored with the (encrypted) credentials, the last successful call and the calls of the last 24 hours
from the integration log, and the daily call budget where the connector declares a per-day limit.
Secrets are decrypted only to read ``expires_at``; nothing else from them reaches a page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from integrator.models import Channel, IntegrationCall, LedgerConnection, TaxCode
from integrator.tables import AccountTable

__all__ = ["Health", "connection_detail", "connection_health", "connections"]

TOKEN_WARN = timedelta(days=7)


@dataclass
class Health:
    """How one channel or ledger connection is doing."""

    kind: str
    name: str
    platform: str
    url: str
    key: str
    active: bool = True
    needs_reauth: bool = False
    token_expires_at: datetime | None = None
    last_success_at: datetime | None = None
    calls_24h: int = 0
    errors_24h: int = 0
    budget_per_day: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def budget_left(self) -> int | None:
        """Calls left in the vendor's daily allowance, from the log of the last 24 hours."""
        if self.budget_per_day is None:
            return None
        return max(0, self.budget_per_day - self.calls_24h)

    @property
    def level(self) -> str:
        """ok, warn or bad: the colour of the row."""
        if self.needs_reauth or any(p.startswith("!") for p in self.problems):
            return "bad"
        return "warn" if self.problems else "ok"

    @property
    def token_text(self) -> str:
        """``authorisation expires in 12 d`` / ``authorisation expired 3 h ago`` / ''."""
        if self.token_expires_at is None:
            return ""
        from integrator.templatetags.integrator_tags import ago

        verb = "expires" if self.token_expires_at > timezone.now() else "expired"
        return f"authorisation {verb} {ago(self.token_expires_at)}"

    @property
    def summary(self) -> str:
        """The problems in words, or 'Healthy'."""
        return "; ".join(p.lstrip("!") for p in self.problems) or "Healthy"


def parse_instant(value: Any) -> datetime | None:
    """``expires_at`` as stored by the OAuth helpers: ISO-8601 text or epoch seconds."""
    if value in (None, ""):
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), tz=UTC)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (TypeError, ValueError, OverflowError):
        return None
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def _token_expiry(credentials: Any) -> datetime | None:
    if not isinstance(credentials, dict):
        return None
    # The refresh token's expiry is the one that forces a person to re-authorise.
    return parse_instant(credentials.get("refresh_expires_at")) or parse_instant(
        credentials.get("expires_at")
    )


def _ledger_key(conn: LedgerConnection) -> str:
    creds = conn.credentials if isinstance(conn.credentials, dict) else {}
    return str(creds.get("realm_id") or creds.get("tenant_id") or conn.pk)


def _per_day_limit(conn: LedgerConnection) -> int | None:
    """The connector's published per-day call limit, if it has one (Xero: 5,000)."""
    try:
        from integrator.services.posting import ledger_target_for

        target = ledger_target_for(conn)
    except Exception:  # an unknown platform or unreadable settings must not break the page
        return None
    limiter = getattr(getattr(target, "http", None), "limiter", None)
    per_day = getattr(getattr(limiter, "limit", None), "per_day", None)
    return int(per_day) if per_day else None


def connection_health(now: datetime | None = None) -> list[Health]:
    """Health of every ledger connection and channel (a fixed number of queries)."""
    now = now or timezone.now()
    rows: list[Health] = []
    for conn in LedgerConnection.objects.all():
        health = Health("ledger", conn.name, conn.platform, reverse("connection-detail", args=[conn.pk]),
                        _ledger_key(conn), conn.active, conn.needs_reauth,
                        _token_expiry(conn.credentials))  # fmt: skip
        if conn.platform != "builtin":
            health.budget_per_day = _per_day_limit(conn)
        rows.append(health)
    for channel in Channel.objects.all():
        rows.append(Health("channel", channel.name, channel.platform,
                           reverse("transactions") + f"?channel={channel.slug}", channel.slug, channel.active,
                           False, _token_expiry(channel.credentials)))  # fmt: skip
    since = now - timedelta(hours=24)
    stats = {
        s["connection_key"]: s
        for s in IntegrationCall.objects.filter(connection_key__in=[h.key for h in rows])
        .values("connection_key")
        .annotate(
            last_ok=Max("created_at", filter=Q(status__gte=200, status__lt=300)),
            calls=Count("id", filter=Q(created_at__gte=since)),
            errors=Count(
                "id", filter=Q(created_at__gte=since) & (Q(status__gte=400) | Q(status__isnull=True))
            ),
        )
        .order_by()
    }
    for h in rows:
        s = stats.get(h.key)
        if s:
            h.last_success_at, h.calls_24h, h.errors_24h = s["last_ok"], s["calls"], s["errors"]
        if not h.active:
            h.problems.append("inactive")
        if h.needs_reauth:
            h.problems.append("!needs re-authorisation")
        if h.token_expires_at is not None:
            if h.token_expires_at <= now:
                h.problems.append("!authorisation expired")
            elif h.token_expires_at - now < TOKEN_WARN:
                h.problems.append("authorisation expires soon")
        if h.errors_24h:
            h.problems.append(f"{h.errors_24h} failed call{'s' if h.errors_24h != 1 else ''} in 24 h")
        left = h.budget_left
        if left is not None and h.budget_per_day and left < h.budget_per_day // 10:
            h.problems.append("daily call budget nearly spent")
    return rows


@login_required
@permission_required("integrator.view_channel", raise_exception=True)
def connections(request: HttpRequest) -> HttpResponse:
    """Every channel and ledger connection with its health, webhook URL and posting mode."""
    health = connection_health()
    channels = Channel.objects.select_related("ledger_connection").annotate(n=Count("transactions"))
    ledgers = LedgerConnection.objects.annotate(n_channels=Count("channels", distinct=True))
    return render(
        request,
        "integrator/connections.html",
        {"health": health, "channels": channels, "ledgers": ledgers},
    )


@login_required
@permission_required("integrator.view_ledgerconnection", raise_exception=True)
def connection_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """A ledger connection: health, lock dates, chart of accounts, tax codes, reports."""
    conn = get_object_or_404(LedgerConnection, pk=pk)
    health = next((h for h in connection_health() if h.kind == "ledger" and h.url.endswith(f"/{pk}/")), None)
    accounts = AccountTable(conn.accounts.select_related("connection"), request)
    return render(
        request,
        "integrator/connection_detail.html",
        {
            "conn": conn,
            "health": health,
            "accounts": accounts.queryset,
            "headers": accounts.headers(),
            "tax_codes": TaxCode.objects.filter(connection=conn),
            "channels": conn.channels.all(),
            **_setup_context(request, conn),
        },
    )


def _setup_context(request: HttpRequest, conn: LedgerConnection) -> dict[str, Any]:
    """What the Setup panel of the page needs: the platform, the last connection test, rights."""
    from connectors.base import UnknownPlatform
    from integrator.models import AuditEvent
    from integrator.services.setup_fields import platform_of

    try:
        platform = platform_of("ledger", conn.platform)
    except UnknownPlatform:
        platform = None
    creds = conn.credentials if isinstance(conn.credentials, dict) else {}
    last_test = (
        AuditEvent.objects.filter(action="connection.tested", object_id=str(conn.pk)).order_by("-id").first()
    )
    today = timezone.localdate()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    return {
        "platform": platform,
        "connected": bool(creds.get("refresh_token")),
        "credential_keys": sorted(
            k for k in creds if k not in ("access_token", "refresh_token", "expires_at", "refresh_expires_at")
        ),
        "last_test": last_test,
        "can_change": request.user.has_perm("integrator.change_ledgerconnection"),
        "close_month": last_month,
    }
