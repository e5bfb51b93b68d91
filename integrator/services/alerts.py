"""Alerts: tell people, by e-mail and on the dashboard, once per cause.

Causes watched by :func:`check_alerts` (scheduled every few minutes, so it sees what every
process did, from the database):

* a **dead letter** - a posting the ledger refused for good (one alert per posting);
* a ledger connection that **needs re-authorisation** (one per episode);
* a ledger's **daily call budget** nearly spent (Xero: 5,000 calls a day; one per connection and day);
* **reconciliation failing two days running** (one per run of failing days).

Anything else that needs a person (the inventory threshold trigger, for one) calls
:func:`raise_alert` (or :func:`notify_inventory_threshold`) itself.

Once per cause: at most one *open* alert exists per (kind, cause) - a unique constraint on open
alerts, not a hope - so raising it again changes nothing and e-mails nobody. The alert closes when
its cause goes away; the same cause coming back later (a posting replayed that dies again) is a
new alert.

Who hears about what: each person's :class:`~integrator.models.AlertPreference` per kind (e-mail,
dashboard); without one, the defaults of their role (:data:`DEFAULT_RECIPIENTS`). E-mail goes
through Django's mail backend (console in development, locmem in tests, SMTP in production), after
the alert's transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrator.choices import AlertKind, AlertSeverity, PostingState
from integrator.models import Alert, AlertPreference, IntegrationCall, LedgerConnection, Posting
from integrator.services import audit

__all__ = [
    "BUDGET_WARN_FRACTION",
    "DEFAULT_RECIPIENTS",
    "AlertChoice",
    "alert_choices",
    "alerts_for",
    "check_alerts",
    "notify_inventory_threshold",
    "raise_alert",
    "resolve_alerts",
    "set_alert_preferences",
]

log = logging.getLogger(__name__)
#: Roles that hear about each kind when they have not chosen otherwise.
DEFAULT_RECIPIENTS: dict[str, tuple[str, ...]] = {
    AlertKind.DEAD_LETTER: ("finance_clerk", "finance_manager", "integration_admin"),
    AlertKind.NEEDS_REAUTH: ("integration_admin", "finance_manager"),
    AlertKind.DAILY_BUDGET: ("integration_admin",),
    AlertKind.RECONCILIATION: ("finance_clerk", "finance_manager"),
    AlertKind.INVENTORY: ("finance_clerk", "finance_manager"),
}
#: A daily budget is "nearly spent" below this fraction of the vendor's daily allowance.
BUDGET_WARN_FRACTION = 0.10
#: How many dead letters one scan looks at (the oldest alerts are already open).
SCAN_LIMIT = 500


# -- raising and resolving ------------------------------------------------------------------------


def raise_alert(
    kind: str,
    cause_key: str,
    title: str,
    message: str,
    *,
    url: str = "",
    severity: str = AlertSeverity.WARNING,
) -> Alert | None:
    """Open an alert for ``cause_key`` unless one is open already; e-mail the people who want it
    once the transaction commits. Returns the new alert, or None when the cause was known."""
    if kind not in AlertKind.values:
        raise ValueError(f"unknown alert kind {kind!r}")
    with transaction.atomic():
        if Alert.objects.filter(kind=kind, cause_key=cause_key, resolved_at__isnull=True).exists():
            return None
        try:
            with transaction.atomic():
                alert = Alert.objects.create(kind=kind, cause_key=cause_key[:200], title=title[:200],
                                             message=message, url=url[:300], severity=severity)  # fmt: skip
        except IntegrityError:  # raised by another process between our check and our insert
            return None
        audit.record("alert.raised", obj=alert, after={"kind": kind, "cause": cause_key, "title": title},
                     actor_label="system")  # fmt: skip
        pk = alert.pk
        transaction.on_commit(lambda: _email(pk))
    return alert


def resolve_alerts(kind: str, still_causes: Iterable[str], *, prefix: str = "") -> int:
    """Close the open alerts of ``kind`` (with cause keys starting with ``prefix``) whose cause is
    not among ``still_causes`` any more. Returns how many closed."""
    keep = set(still_causes)
    open_alerts = Alert.objects.filter(kind=kind, resolved_at__isnull=True, cause_key__startswith=prefix)
    gone = [pk for pk, key in open_alerts.values_list("pk", "cause_key") if key not in keep]
    if not gone:
        return 0
    with transaction.atomic():
        closed = Alert.objects.filter(pk__in=gone, resolved_at__isnull=True).update(
            resolved_at=timezone.now()
        )
        audit.record("alert.resolved", object_type="integrator.Alert", object_id=",".join(str(p) for p in gone)[:200],
                     after={"kind": kind, "resolved": closed}, actor_label="system")  # fmt: skip
    return closed


def notify_inventory_threshold(
    sku: str, location: str, level: Any, reorder_point: Any, *, url: str = "", name: str = ""
) -> Alert | None:
    """The hook of the inventory threshold trigger: stock of ``sku`` at ``location`` is below its
    reorder point. Once per product and location until :func:`resolve_alerts` closes it (restocked)."""
    what = f"{name} ({sku})" if name else sku
    where = f" at {location}" if location else ""
    return raise_alert(
        AlertKind.INVENTORY,
        f"stock:{location}:{sku}",
        f"Low stock: {what}{where}",
        f"{what}{where} is down to {level}, below its reorder point of {reorder_point}.",
        url=url,
    )


# -- who hears about it ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertChoice:
    """One person's effective choice for one kind (their preference, or their role's default)."""

    kind: str
    label: str
    email: bool
    dashboard: bool
    default: bool


def _role_default(user: Any, kind: str) -> bool:
    if user.is_superuser:
        return True
    groups = getattr(user, "_alert_groups", None)
    if groups is None:
        groups = set(user.groups.values_list("name", flat=True))
        user._alert_groups = groups
    return bool(groups & set(DEFAULT_RECIPIENTS.get(kind, ())))


def alert_choices(user: Any) -> list[AlertChoice]:
    """Every kind with this person's effective e-mail and dashboard choice."""
    stored = {p.kind: p for p in AlertPreference.objects.filter(user=user)}
    choices = []
    for kind, label in AlertKind.choices:
        pref = stored.get(kind)
        default = _role_default(user, kind)
        if pref is None:
            choices.append(AlertChoice(kind, label, default, default, True))
        else:
            choices.append(AlertChoice(kind, label, pref.email, pref.dashboard, False))
    return choices


def _wants(user: Any, kind: str, via: str) -> bool:
    pref = AlertPreference.objects.filter(user=user, kind=kind).values_list(via, flat=True).first()
    return _role_default(user, kind) if pref is None else bool(pref)


def alerts_for(user: Any, *, limit: int = 10) -> list[Alert]:
    """Open alerts this person wants on the dashboard, newest first (two queries)."""
    if not getattr(user, "is_authenticated", False):
        return []
    wanted = [c.kind for c in alert_choices(user) if c.dashboard]
    return list(
        Alert.objects.filter(resolved_at__isnull=True, kind__in=wanted).order_by("-raised_at")[:limit]
    )


def set_alert_preferences(
    user: Any, choices: dict[str, tuple[bool, bool]], *, email_address: str | None = None, actor: Any = None
) -> list[AlertChoice]:
    """Store a person's choices (kind -> (e-mail, dashboard)) and, optionally, their e-mail address."""
    with transaction.atomic():
        before = {c.kind: [c.email, c.dashboard] for c in alert_choices(user)}
        for kind, (email, dashboard) in choices.items():
            if kind not in AlertKind.values:
                raise ValueError(f"unknown alert kind {kind!r}")
            AlertPreference.objects.update_or_create(user=user, kind=kind,
                                                     defaults={"email": email, "dashboard": dashboard})  # fmt: skip
        changed_email = email_address is not None and email_address != user.email
        if changed_email:
            get_user_model().objects.filter(pk=user.pk).update(email=email_address)
            user.email = email_address
        after = {c.kind: [c.email, c.dashboard] for c in alert_choices(user)}
        audit.record("alert.preferences_changed", object_type="auth.User", object_id=str(user.pk), before=before,
                     after={**after, "email_changed": changed_email}, actor=actor or user)  # fmt: skip
    return alert_choices(user)


def _email(alert_id: Any) -> None:
    """E-mail an alert to everyone who wants it by e-mail (after commit; failures are logged)."""
    alert = Alert.objects.filter(pk=alert_id).first()
    if alert is None:
        return
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    recipients = [u.email for u in users if _wants(u, alert.kind, "email")]
    if not recipients:
        return
    link = f"{settings.SITE_URL.rstrip('/')}{alert.url}" if alert.url else settings.SITE_URL
    body = f"{alert.message}\n\nWhere to act: {link}\n\nYou receive this because of your alert settings: " \
           f"{settings.SITE_URL.rstrip('/')}/settings/alerts/"  # fmt: skip
    sent = 0
    for address in recipients:  # one message each: nobody sees who else was told
        try:
            sent += send_mail(f"[Integrator] {alert.title}", body, settings.DEFAULT_FROM_EMAIL, [address])
        except Exception:
            log.exception("could not e-mail alert %s to %s", alert.pk, address)
    Alert.objects.filter(pk=alert.pk).update(emailed_to=sent)


# -- the scan -----------------------------------------------------------------------------------


def _dead_letters() -> int:
    raised = 0
    dead = list(
        Posting.objects.filter(state=PostingState.DEAD)
        .select_related("entry", "connection")
        .order_by("-updated_at")[:SCAN_LIMIT]
    )
    known = set(
        Alert.objects.filter(kind=AlertKind.DEAD_LETTER, resolved_at__isnull=True).values_list(
            "cause_key", flat=True
        )
    )
    causes = set()
    for posting in dead:
        cause = f"posting:{posting.pk}"
        causes.add(cause)
        if cause in known:
            continue
        reason = posting.last_error or "no reason given"
        raised += bool(raise_alert(
            AlertKind.DEAD_LETTER, cause, f"Dead letter: {posting.entry.reference}",
            f"{posting.connection.name} refused {posting.entry.reference} for good: {reason}\n"
            "Fix the cause (mapping, account, ledger settings) and replay the posting.",
            url=f"/postings/{posting.pk}/", severity=AlertSeverity.CRITICAL,
        ))  # fmt: skip
    if len(dead) < SCAN_LIMIT:  # only when every dead letter was seen can the others be closed
        resolve_alerts(AlertKind.DEAD_LETTER, causes)
    return raised


def _reauthorisation() -> int:
    raised = 0
    causes = set()
    for conn in LedgerConnection.objects.filter(needs_reauth=True, archived_at__isnull=True):
        cause = f"connection:{conn.pk}"
        causes.add(cause)
        raised += bool(raise_alert(
            AlertKind.NEEDS_REAUTH, cause, f"{conn.name} needs re-authorisation",
            f"{conn.name} ({conn.platform}) refused our credentials and the refresh failed: nothing is posted "
            "to it until someone connects it again (Setup > the connection > Connect).",
            url=f"/connections/ledgers/{conn.pk}/", severity=AlertSeverity.CRITICAL,
        ))  # fmt: skip
    resolve_alerts(AlertKind.NEEDS_REAUTH, causes)
    return raised


def _budget_left(conn: LedgerConnection, now: datetime) -> tuple[int, int] | None:
    """(calls left today, daily allowance) for a connector with a daily cap, else None. The lower of
    the connector's own figure and the integration log's count (every process writes the log)."""
    from integrator.services.posting import ledger_target_for

    try:
        target = ledger_target_for(conn)
    except Exception:  # an unknown platform must not stop the other checks
        return None
    per_day = getattr(getattr(getattr(target, "http", None), "limiter", None), "limit", None)
    allowance = getattr(per_day, "per_day", None)
    method = getattr(target, "daily_budget_remaining", None)
    if not allowance or method is None:
        return None
    own = method()
    if own is None:
        return None
    creds = conn.credentials if isinstance(conn.credentials, dict) else {}
    key = str(creds.get("tenant_id") or creds.get("realm_id") or conn.pk)
    logged = IntegrationCall.objects.filter(
        connection_key=key, created_at__gte=now - timedelta(hours=24)
    ).count()
    return min(int(own), max(0, int(allowance) - logged)), int(allowance)


def _budgets(now: datetime) -> int:
    raised = 0
    today = timezone.localdate(now)
    causes = set()
    for conn in LedgerConnection.objects.filter(active=True, archived_at__isnull=True).exclude(
        platform="builtin"
    ):
        found = _budget_left(conn, now)
        if found is None:
            continue
        left, allowance = found
        if left >= allowance * BUDGET_WARN_FRACTION:
            continue
        cause = f"budget:{conn.pk}:{today.isoformat()}"
        causes.add(cause)
        raised += bool(raise_alert(
            AlertKind.DAILY_BUDGET, cause, f"{conn.name}: daily call budget nearly spent",
            f"{conn.name} has {left} of its {allowance} calls left today. Postings wait for the budget to "
            "renew rather than fail; back-fills and chart refreshes are best left until tomorrow.",
            url="/connections/",
        ))  # fmt: skip
    resolve_alerts(AlertKind.DAILY_BUDGET, causes)
    return raised


def _failing_days() -> list[tuple[date, bool]]:
    """(day, failing) for the days with a finished daily reconciliation run, newest first; a day
    fails when its latest run failed or left exceptions open."""
    from reconciliation.choices import RunKind, RunStatus
    from reconciliation.models import ReconciliationRun

    latest: dict[date, tuple[str, int]] = {}
    runs = ReconciliationRun.objects.filter(kind=RunKind.DAILY, status__in=[RunStatus.DONE, RunStatus.FAILED])
    for day, status, open_count in runs.order_by("created_at").values_list(
        "start", "status", "exceptions_open"
    ):
        latest[day] = (status, open_count)  # later runs of a day replace earlier ones
    return [(d, s == RunStatus.FAILED or n > 0) for d, (s, n) in sorted(latest.items(), reverse=True)]


def _reconciliation() -> int:
    days = _failing_days()
    causes: set[str] = set()
    raised = 0
    if len(days) >= 2 and days[0][1] and days[1][1] and days[0][0] - days[1][0] == timedelta(days=1):
        streak = [days[0][0]]
        for (day, failing), (newer, _) in zip(days[1:], days, strict=False):
            if not failing or newer - day != timedelta(days=1):
                break
            streak.append(day)
        first = streak[-1]
        cause = f"reconciliation:{first.isoformat()}"
        causes.add(cause)
        raised += bool(raise_alert(
            AlertKind.RECONCILIATION, cause, f"Reconciliation failing since {first:%d %b %Y}",
            f"The daily reconciliation has failed or left exceptions open {len(streak)} days running "
            f"({first:%d %b} to {streak[0]:%d %b}). Resolve the exceptions or fix the cause.",
            url="/reconciliation/exceptions/",
        ))  # fmt: skip
    resolve_alerts(AlertKind.RECONCILIATION, causes)
    return raised


def check_alerts(now: datetime | None = None) -> int:
    """Raise what is new and close what went away (scheduled); returns how many alerts were raised."""
    now = now or timezone.now()
    total = 0
    for check in (_dead_letters, _reauthorisation, lambda: _budgets(now), _reconciliation):
        try:
            total += check()
        except Exception:  # one broken check must not silence the others
            log.exception("alert check %s failed", getattr(check, "__name__", check))
    return total
