"""Forms of the reconciliation screens (validation only; the services do the writing)."""

from __future__ import annotations

from typing import Any

from django import forms

from integrator.models import LedgerAccount, LedgerConnection
from integrator.widgets import IsoDateInput
from reconciliation.choices import StatementFormat
from reconciliation.models import BankAccount

__all__ = ["BankAccountForm", "ConfirmImportForm", "ResolveForm", "StartRunForm", "StatementUploadForm"]


class StartRunForm(forms.Form):
    """A day, or a period from start to end."""

    day = forms.DateField(required=False, widget=IsoDateInput())
    start = forms.DateField(required=False, widget=IsoDateInput())
    end = forms.DateField(required=False, widget=IsoDateInput())

    def clean(self) -> dict[str, Any]:
        """A day, or both ends of a period in order."""
        data = super().clean() or {}
        day, start, end = data.get("day"), data.get("start"), data.get("end")
        if day and (start or end):
            raise forms.ValidationError("Give a day or a period, not both.")
        if not day and not (start and end):
            raise forms.ValidationError("Give a day, or both the start and the end of a period.")
        if start and end and end < start:
            raise forms.ValidationError("The period ends before it starts.")
        return data


class ResolveForm(forms.Form):
    """What happened, and whether the difference is written off."""

    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What happened?"}), required=False
    )
    write_off = forms.BooleanField(required=False)


class StatementUploadForm(forms.Form):
    """A statement file for a bank account; the format is detected unless chosen."""

    bank_account = forms.ModelChoiceField(queryset=BankAccount.objects.filter(active=True))
    file = forms.FileField()
    format = forms.ChoiceField(
        choices=[("", "Detect from the file"), *StatementFormat.choices], required=False
    )


class ConfirmImportForm(forms.Form):
    """The previewed file, carried back for the import."""

    bank_account = forms.ModelChoiceField(
        queryset=BankAccount.objects.filter(active=True), widget=forms.HiddenInput
    )
    filename = forms.CharField(widget=forms.HiddenInput)
    format = forms.CharField(widget=forms.HiddenInput)
    checksum = forms.CharField(widget=forms.HiddenInput)
    content_b64 = forms.CharField(widget=forms.HiddenInput)


class BankAccountForm(forms.Form):
    """A new bank account mirrored by a ledger account."""

    name = forms.CharField(max_length=120)
    connection = forms.ModelChoiceField(queryset=LedgerConnection.objects.filter(active=True))
    ledger_account = forms.ModelChoiceField(queryset=LedgerAccount.objects.filter(active=True, type="asset"))
    currency = forms.CharField(max_length=3)
    account_number = forms.CharField(max_length=64, required=False, label="IBAN or account number")
