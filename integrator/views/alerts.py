"""Alerts: the list of open and recent alerts, and each person's alert settings."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from integrator.forms import AlertPreferencesForm
from integrator.models import Alert
from integrator.services.alerts import alert_choices, set_alert_preferences

__all__ = ["alert_list", "alert_settings"]


@login_required
@permission_required("integrator.view_alert", raise_exception=True)
def alert_list(request: HttpRequest) -> HttpResponse:
    """Open alerts first, then the last closed ones."""
    open_alerts = Alert.objects.filter(resolved_at__isnull=True).order_by("-raised_at")
    closed = Alert.objects.filter(resolved_at__isnull=False).order_by("-resolved_at")[:50]
    return render(request, "alerts/list.html", {"open_alerts": open_alerts, "closed": closed})


@login_required
def alert_settings(request: HttpRequest) -> HttpResponse:
    """Which alerts this person gets by e-mail and on the dashboard, and where e-mails go."""
    choices = alert_choices(request.user)
    form = AlertPreferencesForm(
        request.POST if request.method == "POST" else None,
        choices=choices,
        initial={"email_address": getattr(request.user, "email", "")},
    )
    if request.method == "POST" and form.is_valid():
        set_alert_preferences(request.user, form.chosen(), email_address=form.cleaned_data["email_address"],
                              actor=request.user)  # fmt: skip
        messages.success(request, "Your alert settings are saved.")
        return redirect("alert-settings")
    return render(request, "alerts/settings.html", {"form": form})
