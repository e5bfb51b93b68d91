"""Setup > Sales channels: the wizard (choose the platform, then one form), the channel's page
(webhook address and signing secret with copy buttons, rotation, connection test, back-fill with a
progress bar), editing, disabling, archiving, deleting what has no history.

Views are thin: every change goes through :mod:`integrator.services.channel_setup` (atomic,
audited). A signing secret we generate is shown once: it travels from the POST that made it to
the page that shows it in the session (encrypted), and is removed from there as it is shown.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from connectors.base import UnknownPlatform
from integrator import crypto
from integrator.forms import (
    BackfillForm,
    ChannelDetailsForm,
    RotateSecretForm,
    setup_form_class,
    setup_values,
)
from integrator.models import AuditEvent, Channel, Job
from integrator.services import channel_setup as svc
from integrator.services.setup_fields import SetupInvalid, platform_of, source_platforms
from integrator.services.sync import BackfillRefused, start_backfill

__all__ = [
    "channel_action",
    "channel_backfill",
    "channel_detail",
    "channel_edit",
    "channel_new",
    "channel_platforms",
    "channel_rotate",
    "channel_test",
]

_SECRET_KEY = "integrator_new_webhook_secret"
CHANGE = "integrator.change_channel"


def webhook_url(request: HttpRequest, channel: Channel) -> str:
    """The absolute address the platform posts to."""
    return request.build_absolute_uri(reverse("webhook", args=[channel.slug]))


def _show_secret_once(request: HttpRequest, channel: Channel, secret: str) -> None:
    # Encrypted like every stored secret: the session table must never hold one in plaintext.
    request.session[_SECRET_KEY] = {"channel": str(channel.pk), "secret": crypto.encrypt(secret)}


def _take_secret(request: HttpRequest, channel: Channel) -> str:
    held = request.session.get(_SECRET_KEY) or {}
    if held.get("channel") != str(channel.pk):
        return ""
    del request.session[_SECRET_KEY]
    return crypto.decrypt(str(held.get("secret", "")))


def _apply_errors(errors: dict[str, str], *forms_: forms.Form) -> None:
    """Put each service error on the form field it names (or on the first form)."""
    for name, text in errors.items():
        target = next((f for f in forms_ if name in f.fields), None)
        if target is not None:
            target.add_error(name, text)
        else:
            forms_[0].add_error(None, text)


@login_required
@permission_required("integrator.add_channel", raise_exception=True)
def channel_platforms(request: HttpRequest) -> HttpResponse:
    """Step 1: choose the platform (only those whose connector is installed)."""
    return render(request, "setup/platforms.html", {"kind": "channel", "platforms": source_platforms()})


@login_required
@permission_required("integrator.add_channel", raise_exception=True)
def channel_new(request: HttpRequest, platform: str) -> HttpResponse:
    """Step 2: the channel's details and the platform's own fields, in one form."""
    try:
        chosen = platform_of("source", platform)
    except UnknownPlatform:
        messages.error(request, f"There is no connector for {platform!r} in this installation.")
        return redirect("setup-channel-platforms")
    setup_form = setup_form_class(chosen)(request.POST or None, prefix="setup")
    details = ChannelDetailsForm(request.POST or None, prefix="channel")
    if request.method == "POST" and details.is_valid() and setup_form.is_valid():
        d = details.cleaned_data
        wanted = svc.ChannelDetails(d["name"], d["slug"], d["currency"], d["timezone"], d["posting_mode"],
                                    d["ledger_connection"])  # fmt: skip
        try:
            channel, secret = svc.set_up_channel(chosen.slug, wanted, setup_values(setup_form, editing=False),
                                                 actor=request.user)  # fmt: skip
        except SetupInvalid as exc:
            _apply_errors(exc.errors, details, setup_form)
        else:
            if secret:
                _show_secret_once(request, channel, secret)
            messages.success(
                request, f"{channel.name} is set up. Point {chosen.name} at the webhook address below."
            )
            return redirect("setup-channel", pk=channel.pk)
    return render(request, "setup/channel_form.html", {"platform": chosen, "details": details,
                                                       "setup_form": setup_form, "editing": False})  # fmt: skip


def _last_test(obj_id: Any, action: str) -> AuditEvent | None:
    return AuditEvent.objects.filter(action=action, object_id=str(obj_id)).order_by("-id").first()


@login_required
@permission_required("integrator.view_channel", raise_exception=True)
def channel_detail(request: HttpRequest, pk: str) -> HttpResponse:
    """A channel: how to point the platform at us, its secret, tests, back-fills, history."""
    channel = get_object_or_404(
        Channel.objects.select_related("ledger_connection").annotate(n_events=Count("events", distinct=True)),
        pk=pk,
    )
    try:
        platform = platform_of("source", channel.platform)
    except UnknownPlatform:
        platform = None
    backfills = Job.objects.filter(kind="sync", description__startswith=f"Back-fill {channel.name} ")[:5]
    return render(
        request,
        "setup/channel_detail.html",
        {
            "channel": channel,
            "platform": platform,
            "webhook_url": webhook_url(request, channel),
            "new_secret": _take_secret(request, channel),
            "secrets": len(channel.secrets()),
            "last_test": _last_test(channel.pk, "channel.connection_tested"),
            "backfills": backfills,
            "rotate_form": RotateSecretForm(),
            "backfill_form": BackfillForm(initial={"since": timezone.localdate() - timedelta(days=30)}),
            "can_change": request.user.has_perm(CHANGE),
            "credential_keys": sorted((channel.credentials or {}).keys()),
            "settings_shown": [
                (f.label, (channel.settings or {}).get(f.name))
                for f in (platform.plain_fields if platform else ())
                if f.name != "base_url"
            ],
        },
    )


@login_required
@permission_required(CHANGE, raise_exception=True)
def channel_edit(request: HttpRequest, pk: str) -> HttpResponse:
    """Edit: plain fields shown again; secrets left blank are kept."""
    channel = get_object_or_404(Channel, pk=pk)
    try:
        platform = platform_of("source", channel.platform)
    except UnknownPlatform:
        messages.error(
            request, f"The connector for {channel.platform} is not installed: the channel cannot be edited."
        )
        return redirect("setup-channel", pk=channel.pk)
    stored = set((channel.credentials or {}).keys())
    initial = {**(channel.settings or {}), "base_url": channel.base_url}
    form_class = setup_form_class(platform, editing=True, stored_credentials=stored)
    setup_form = form_class(request.POST or None, prefix="setup", initial=initial)
    details = ChannelDetailsForm(
        request.POST or None, prefix="channel",
        initial={"name": channel.name, "slug": channel.slug, "currency": channel.currency, "timezone": channel.timezone,
                 "posting_mode": channel.posting_mode, "ledger_connection": channel.ledger_connection_id},
    )  # fmt: skip
    if request.method == "POST" and details.is_valid() and setup_form.is_valid():
        try:
            svc.update_channel(channel, details=details.cleaned_data, raw_setup=setup_values(setup_form, editing=True),
                               actor=request.user)  # fmt: skip
        except SetupInvalid as exc:
            _apply_errors(exc.errors, details, setup_form)
        else:
            messages.success(request, "Saved.")
            return redirect("setup-channel", pk=channel.pk)
    return render(request, "setup/channel_form.html", {"platform": platform, "details": details,
                                                       "setup_form": setup_form, "editing": True, "channel": channel})  # fmt: skip


@login_required
@require_POST
@permission_required(CHANGE, raise_exception=True)
def channel_test(request: HttpRequest, pk: str) -> HttpResponse:
    """Test connection: call the platform now and show what it said."""
    channel = get_object_or_404(Channel, pk=pk)
    check = svc.test_channel(channel, actor=request.user)
    (messages.success if check.ok else messages.error)(request, check.message)
    return redirect("setup-channel", pk=channel.pk)


@login_required
@require_POST
@permission_required(CHANGE, raise_exception=True)
def channel_rotate(request: HttpRequest, pk: str) -> HttpResponse:
    """A new signing secret; the old one stays valid for the hours chosen."""
    channel = get_object_or_404(Channel, pk=pk)
    form = RotateSecretForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Keep the old secret for between 0 and 720 hours.")
        return redirect("setup-channel", pk=channel.pk)
    try:
        channel, secret = svc.rotate_webhook_secret(
            channel, new_secret=form.cleaned_data["webhook_secret"], grace=timedelta(hours=form.cleaned_data["grace_hours"]),
            actor=request.user,
        )  # fmt: skip
    except SetupInvalid as exc:
        messages.error(request, " ".join(exc.errors.values()))
        return redirect("setup-channel", pk=channel.pk)
    if secret:
        _show_secret_once(request, channel, secret)
    until = channel.previous_secrets_expire_at
    kept = f" The old secret is accepted until {timezone.localtime(until):%d %b %Y %H:%M}." if until else ""
    messages.success(request, f"The signing secret was replaced.{kept}")
    return redirect("setup-channel", pk=channel.pk)


@login_required
@require_POST
@permission_required(CHANGE, raise_exception=True)
def channel_backfill(request: HttpRequest, pk: str) -> HttpResponse:
    """Start a back-fill from a day; its page shows the progress bar."""
    channel = get_object_or_404(Channel, pk=pk)
    form = BackfillForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the day to back-fill from.")
        return redirect("setup-channel", pk=channel.pk)
    since = timezone.make_aware(datetime.combine(form.cleaned_data["since"], time.min))
    try:
        job = start_backfill(channel, since, actor=request.user)
    except BackfillRefused as exc:
        messages.error(request, str(exc))
        return redirect("setup-channel", pk=channel.pk)
    messages.success(request, f"Back-filling {channel.name} since {since:%d %b %Y}: the worker is on it.")
    return redirect("job-detail", pk=job.pk)


@login_required
@require_POST
@permission_required(CHANGE, raise_exception=True)
def channel_action(request: HttpRequest, pk: str, verb: str) -> HttpResponse:
    """disable, enable, archive or delete."""
    channel = get_object_or_404(Channel, pk=pk)
    try:
        if verb == "disable":
            svc.set_channel_active(channel, False, actor=request.user)
            messages.success(
                request, f"{channel.name} is disabled: its webhooks are refused until it is enabled."
            )
        elif verb == "enable":
            svc.set_channel_active(channel, True, actor=request.user)
            messages.success(request, f"{channel.name} is enabled.")
        elif verb == "archive":
            svc.archive_channel(channel, actor=request.user)
            messages.success(request, f"{channel.name} is archived; its history is kept.")
        elif verb == "delete":
            svc.delete_channel(channel, actor=request.user)
            messages.success(request, f"{channel.name} was deleted.")
            return redirect("setup")
        else:
            return HttpResponse(status=404)
    except SetupInvalid as exc:
        messages.error(request, " ".join(exc.errors.values()))
    return redirect("setup-channel", pk=channel.pk)
