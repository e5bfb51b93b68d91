"""Forms of the security screens."""

from __future__ import annotations

from typing import Any

from django import forms

from integrator.security.scopes import WRITE_SCOPES
from integrator.security.tokens import MAX_LIFETIME
from integrator.widgets import IsoDateInput

__all__ = ["AuditFilterForm", "CodeForm", "TokenForm"]


class TokenForm(forms.Form):
    """Create an API token for yourself: a name, write scopes (none = read-only), lifetime. There is
    no owner to choose: a token acts as the person who creates it (service users get theirs from
    ``manage.py create_api_token``)."""

    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=list(WRITE_SCOPES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked for a read-only token.",
    )
    expires_in_days = forms.IntegerField(min_value=1, max_value=MAX_LIFETIME.days, initial=90)


class CodeForm(forms.Form):
    """A code from the authenticator app, or a backup code."""

    code = forms.CharField(
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class AuditFilterForm(forms.Form):
    """Filters of the audit-trail screen and its CSV export."""

    action = forms.CharField(required=False, help_text="Exact action or a prefix ending in '.'")
    object_type = forms.CharField(required=False)
    object_id = forms.CharField(required=False)
    actor = forms.CharField(required=False, help_text="Username, 'system' or worker name")
    request_id = forms.CharField(required=False)
    date_from = forms.DateField(required=False, widget=IsoDateInput())
    date_to = forms.DateField(required=False, widget=IsoDateInput())

    def active_filters(self) -> dict[str, Any]:
        """The filters actually set (for the export's own audit row and links)."""
        if not self.is_valid():
            return {}
        return {
            k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in self.cleaned_data.items() if v
        }
