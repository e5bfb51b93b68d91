"""The Setup area: its front page, people, and the welcome page of an empty installation.

Routes of the whole area are here (``/setup/...``, included once from ``integrator.urls``); the
channel and ledger wizards live in :mod:`.setup_channels` and :mod:`.setup_ledgers`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path

from integrator.forms import FirstAdminForm, PersonForm
from integrator.models import Channel, LedgerConnection
from integrator.services import people
from integrator.views import setup_channels as ch
from integrator.views import setup_ledgers as lg

__all__ = [
    "LoginOrWelcomeView",
    "people_list",
    "person_edit",
    "person_new",
    "setup_home",
    "urlpatterns",
    "welcome",
]


class LoginOrWelcomeView(auth_views.LoginView):
    """The login page, or the welcome page while the installation has nobody to log in."""

    template_name = "registration/login.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Send the very first visitor to the welcome page."""
        if people.first_run_needed():
            return redirect("welcome")
        return super().dispatch(request, *args, **kwargs)


@login_required
@permission_required("integrator.view_channel", raise_exception=True)
def setup_home(request: HttpRequest) -> HttpResponse:
    """Ledgers first (channels post to them), then channels, then people."""
    show_archived = request.GET.get("archived") == "1"
    ledgers = LedgerConnection.objects.annotate(n_channels=Count("channels", distinct=True))
    channels = Channel.objects.select_related("ledger_connection")
    if not show_archived:
        ledgers, channels = (
            ledgers.filter(archived_at__isnull=True),
            channels.filter(archived_at__isnull=True),
        )
    archived = (
        LedgerConnection.objects.filter(archived_at__isnull=False).count()
        + Channel.objects.filter(archived_at__isnull=False).count()
    )
    return render(
        request,
        "setup/home.html",
        {
            "ledgers": ledgers,
            "channels": channels,
            "archived": archived,
            "show_archived": show_archived,
            "people": get_user_model().objects.count() if request.user.has_perm("auth.view_user") else None,
        },
    )


@login_required
@permission_required("auth.view_user", raise_exception=True)
def people_list(request: HttpRequest) -> HttpResponse:
    """Everyone who can log in (or could), with their roles."""
    users = get_user_model().objects.prefetch_related("groups").annotate(
        n_devices=Count("totpdevice", filter=Q(totpdevice__confirmed=True))
    ).order_by("username")  # fmt: skip
    return render(
        request, "setup/people.html", {"users": users, "can_add": request.user.has_perm("auth.add_user")}
    )


@login_required
@permission_required("auth.add_user", raise_exception=True)
def person_new(request: HttpRequest) -> HttpResponse:
    """Add someone with their role(s) and a first password."""
    form = PersonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            user = people.create_person(username=d["username"], full_name=d["full_name"], email=d["email"],
                                        roles=d["roles"], password=d["password"], actor=request.user)  # fmt: skip
        except (people.PeopleError, PermissionDenied) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, f"{user.get_username()} can log in now. Give them their first password."
            )
            return redirect("setup-people")
    return render(request, "setup/person_form.html", {"form": form, "editing": False})


@login_required
@permission_required("auth.change_user", raise_exception=True)
def person_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change someone's roles, name, e-mail, password, or stop them logging in."""
    user = get_object_or_404(get_user_model(), pk=pk)
    initial = {"username": user.get_username(), "full_name": user.get_full_name(), "email": user.email,
               "roles": list(user.groups.values_list("name", flat=True))}  # fmt: skip
    form = PersonForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        active = request.POST.get("active") == "on"
        try:
            people.update_person(user, actor=request.user, full_name=d["full_name"], email=d["email"],
                                 roles=d["roles"], password=d["password"], active=active)  # fmt: skip
        except (people.PeopleError, PermissionDenied) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{user.get_username()} was updated.")
            return redirect("setup-people")
    return render(request, "setup/person_form.html", {"form": form, "editing": True, "person": user})


def welcome(request: HttpRequest) -> HttpResponse:
    """An installation with nobody in it: create the first administrator with the setup code."""
    if not people.first_run_needed():
        return redirect("login")
    people.first_admin_code()  # make sure the code exists where the server says it is
    form = FirstAdminForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            user = people.create_first_admin(code=d["setup_code"], username=d["username"], full_name=d["full_name"],
                                             email=d["email"], password=d["password"])  # fmt: skip
        except PermissionDenied as exc:
            form.add_error("setup_code", str(exc))
        except people.PeopleError as exc:
            messages.info(request, str(exc))
            return redirect("login")
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request,
                "Welcome. Your role needs two-factor authentication: set up an authenticator app first.",
            )
            return redirect("security:mfa-enrol")
    return render(request, "setup/welcome.html", {"form": form})


urlpatterns = [
    path("", setup_home, name="setup"),
    path("channels/new/", ch.channel_platforms, name="setup-channel-platforms"),
    path("channels/new/<slug:platform>/", ch.channel_new, name="setup-channel-new"),
    path("channels/<uuid:pk>/", ch.channel_detail, name="setup-channel"),
    path("channels/<uuid:pk>/edit/", ch.channel_edit, name="setup-channel-edit"),
    path("channels/<uuid:pk>/test/", ch.channel_test, name="setup-channel-test"),
    path("channels/<uuid:pk>/rotate-secret/", ch.channel_rotate, name="setup-channel-rotate"),
    path("channels/<uuid:pk>/backfill/", ch.channel_backfill, name="setup-channel-backfill"),
    path("channels/<uuid:pk>/<slug:verb>/", ch.channel_action, name="setup-channel-action"),
    path("ledgers/new/", lg.ledger_platforms_view, name="setup-ledger-platforms"),
    path("ledgers/new/<slug:platform>/", lg.ledger_new, name="setup-ledger-new"),
    path("ledgers/<uuid:pk>/edit/", lg.ledger_edit, name="setup-ledger-edit"),
    path("ledgers/<uuid:pk>/test/", lg.ledger_test, name="setup-ledger-test"),
    path("ledgers/<uuid:pk>/<slug:verb>/", lg.ledger_action, name="setup-ledger-action"),
    path("people/", people_list, name="setup-people"),
    path("people/new/", person_new, name="setup-person-new"),
    path("people/<int:pk>/", person_edit, name="setup-person"),
]
