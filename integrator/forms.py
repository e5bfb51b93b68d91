"""Forms of the Setup area, period close and alert settings.

The connector-specific part of the channel and ledger wizards is built from the connector's
``setup_fields`` (:func:`setup_form_class`): a password box for anything secret (never filled in
again: left blank when editing, the stored value is kept), a check box for yes/no, a drop-down for
a choice, a date picker for a date. What goes where is decided by the services, not here.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.contrib.auth import get_user_model, password_validation

from connectors.base import SetupField
from integrator.choices import AlertKind, LockPolicy, PostingMode
from integrator.models import LedgerConnection
from integrator.services.roles import ROLE_NAMES
from integrator.services.setup_fields import WEBHOOK_SECRET, Platform
from integrator.widgets import IsoDateInput

__all__ = [
    "AlertPreferencesForm",
    "BackfillForm",
    "ChannelDetailsForm",
    "CloseForm",
    "FirstAdminForm",
    "LedgerDetailsForm",
    "PersonForm",
    "ReopenForm",
    "RotateSecretForm",
    "setup_form_class",
]

ROLE_LABELS = {
    "finance_clerk": "Finance clerk: drafts mappings, resolves exceptions",
    "finance_manager": "Finance manager: approves mappings, closes periods (two-factor)",
    "auditor": "Auditor: reads everything, changes nothing",
    "integration_admin": "Integration admin: channels, ledgers, people, API tokens (two-factor)",
}
# Common zones first; any IANA name is accepted.
TIMEZONES = sorted(zoneinfo.available_timezones())
DATE_INPUT = IsoDateInput()


def _is_secret(spec: SetupField) -> bool:
    return spec.kind == "secret" or spec.store == "credentials" or spec.name == WEBHOOK_SECRET


def _field(spec: SetupField, editing: bool, stored: set[str]) -> forms.Field:
    help_text = spec.help
    required = spec.required and not editing
    if _is_secret(spec):
        if spec.name in stored or (editing and spec.name == WEBHOOK_SECRET):
            help_text = (help_text + " " if help_text else "") + "Stored and hidden: leave blank to keep it."
            required = False
        return forms.CharField(
            label=spec.label, help_text=help_text, required=required, strip=True,
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        )  # fmt: skip
    if spec.kind == "bool":
        return forms.BooleanField(
            label=spec.label, help_text=help_text, required=False, initial=bool(spec.default)
        )
    if spec.kind == "choice":
        choices = list(spec.choices) if spec.required else [("", "—"), *spec.choices]
        return forms.ChoiceField(
            label=spec.label, help_text=help_text, required=required, choices=choices, initial=spec.default
        )
    if spec.kind == "int":
        return forms.IntegerField(
            label=spec.label, help_text=help_text, required=required, initial=spec.default
        )
    if spec.kind == "date":
        return forms.DateField(label=spec.label, help_text=help_text, required=required, widget=DATE_INPUT)
    widget = forms.URLInput() if spec.kind == "url" else forms.TextInput()
    return forms.CharField(
        label=spec.label, help_text=help_text, required=required, initial=spec.default, widget=widget
    )


def setup_form_class(
    platform: Platform, *, editing: bool = False, stored_credentials: set[str] | None = None
) -> type[forms.Form]:
    """A form of the platform's setup fields (prefix ``setup``).

    Required fields are marked but not enforced by the form: the service checks them with every
    other rule, so a person sees every problem of the page at once, each next to its field.
    """
    stored = stored_credentials or set()
    fields = {}
    for spec in platform.fields:
        field = _field(spec, editing, stored)
        field.show_required = field.required  # type: ignore[attr-defined]
        if field.required:
            field.widget.attrs["aria-required"] = "true"
        field.required = False
        fields[spec.name] = field
    return type(f"{platform.slug.title()}SetupForm", (forms.Form,), fields)


def setup_values(form: forms.Form, *, editing: bool) -> dict[str, Any]:
    """What the person entered, for the services: blank secrets are left out when editing (kept)."""
    values: dict[str, Any] = {}
    for name, value in form.cleaned_data.items():
        widget = form.fields[name].widget
        if editing and isinstance(widget, forms.PasswordInput) and not value:
            continue
        values[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return values


class ChannelDetailsForm(forms.Form):
    """The plain part of a channel: name, webhook slug, currency, time zone, posting, ledger."""

    name = forms.CharField(max_length=120, help_text="How people will recognise it, e.g. Online shop.")
    slug = forms.SlugField(
        max_length=60, help_text="Part of the webhook address: lower-case letters, digits and hyphens."
    )
    currency = forms.CharField(
        max_length=3, min_length=3, help_text="The shop's currency (ISO code, e.g. GBP)."
    )
    timezone = forms.ChoiceField(
        choices=[(z, z) for z in TIMEZONES],
        initial="Europe/London",
        help_text="Where the business day starts.",
    )
    posting_mode = forms.ChoiceField(choices=PostingMode.choices, initial=PostingMode.PER_TRANSACTION,
                                     label="Posting")  # fmt: skip
    ledger_connection = forms.ModelChoiceField(
        queryset=LedgerConnection.objects.filter(active=True, archived_at__isnull=True),
        label="Posts to",
        help_text="The ledger connection its sales are booked in.",
    )

    def clean_currency(self) -> str:
        """Upper case."""
        return str(self.cleaned_data["currency"]).upper()


class LedgerDetailsForm(forms.Form):
    """The plain part of a ledger connection."""

    name = forms.CharField(max_length=120, help_text="e.g. QuickBooks (UK company).")
    functional_currency = forms.CharField(
        max_length=3, min_length=3, label="Currency of the books", help_text="ISO code, e.g. GBP."
    )
    lock_policy = forms.ChoiceField(
        choices=LockPolicy.choices, initial=LockPolicy.HOLD, label="A document dated in a closed period"
    )

    def clean_functional_currency(self) -> str:
        """Upper case."""
        return str(self.cleaned_data["functional_currency"]).upper()


class RotateSecretForm(forms.Form):
    """A new signing secret (pasted, for vendor-issued ones) and how long the old one stays valid."""

    webhook_secret = forms.CharField(
        required=False, label="New signing secret", strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )  # fmt: skip
    grace_hours = forms.IntegerField(
        min_value=0, max_value=720, initial=48, label="Keep the old secret valid for (hours)"
    )


class BackfillForm(forms.Form):
    """Back-fill from a day."""

    since = forms.DateField(label="Back-fill from", widget=DATE_INPUT)


class CloseForm(forms.Form):
    """Explanations for the checks that are not green (one text box per failing check)."""

    def __init__(self, *args: Any, failing: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for check in failing or []:
            self.fields[f"explain_{check.key}"] = forms.CharField(
                required=False, label=f"Why can the month close with: {check.detail}?",
                widget=forms.Textarea(attrs={"rows": 2}), max_length=1000,
            )  # fmt: skip

    def explanations(self) -> dict[str, str]:
        """check key -> explanation."""
        return {
            k.removeprefix("explain_"): v for k, v in self.cleaned_data.items() if k.startswith("explain_")
        }


class ReopenForm(forms.Form):
    """Why a closed period is reopened."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000, min_length=10)


class AlertPreferencesForm(forms.Form):
    """E-mail and dashboard per alert kind, and the person's e-mail address."""

    email_address = forms.EmailField(required=False, label="Send e-mails to")

    def __init__(self, *args: Any, choices: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kinds = []
        for choice in choices or []:
            self.fields[f"email_{choice.kind}"] = forms.BooleanField(required=False, initial=choice.email,
                                                                     label=f"{choice.label}: e-mail")  # fmt: skip
            self.fields[f"dashboard_{choice.kind}"] = forms.BooleanField(
                required=False, initial=choice.dashboard, label=f"{choice.label}: dashboard"
            )
            self.kinds.append(choice)

    def rows(self) -> list[tuple[Any, Any, Any]]:
        """(choice, e-mail box, dashboard box) per kind, for the table."""
        return [(c, self[f"email_{c.kind}"], self[f"dashboard_{c.kind}"]) for c in self.kinds]

    def chosen(self) -> dict[str, tuple[bool, bool]]:
        """kind -> (e-mail, dashboard)."""
        return {kind: (bool(self.cleaned_data.get(f"email_{kind}")), bool(self.cleaned_data.get(f"dashboard_{kind}")))
                for kind in AlertKind.values if f"email_{kind}" in self.fields}  # fmt: skip


class PersonForm(forms.Form):
    """Someone who uses the integrator: login, name, e-mail, role(s), a first password."""

    username = forms.RegexField(regex=r"^[\w.@+-]+$", max_length=150,
                                help_text="Letters, digits and @ . + - _ only.")  # fmt: skip
    full_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False, help_text="Where alerts are sent.")
    roles = forms.MultipleChoiceField(
        choices=[(r, ROLE_LABELS[r]) for r in ROLE_NAMES], widget=forms.CheckboxSelectMultiple
    )
    password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="A first password the person changes; leave blank when editing to keep theirs.",
    )  # fmt: skip

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.editing = editing
        if editing:
            self.fields["username"].disabled = True
        else:
            self.fields["password"].required = True

    def clean_username(self) -> str:
        """Unique (case-insensitively) when creating."""
        name = str(self.cleaned_data["username"])
        if not self.editing and get_user_model().objects.filter(username__iexact=name).exists():
            raise forms.ValidationError("Someone already uses this login.")
        return name

    def clean_password(self) -> str:
        """Django's password rules."""
        password = str(self.cleaned_data.get("password") or "")
        if password:
            password_validation.validate_password(password)
        return password


class FirstAdminForm(PersonForm):
    """The first administrator of an empty installation, with the one-time setup code."""

    setup_code = forms.CharField(
        label="Setup code",
        help_text="Printed by make run / manage.py serve, and kept in var/first-admin-code.txt on the server.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["roles"]
        self.order_fields(["setup_code", "username", "full_name", "email", "password"])
