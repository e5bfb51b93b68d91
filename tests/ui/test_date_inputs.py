"""Date inputs carry ISO values: a browser's ``<input type="date">`` shows ``01/11/2026`` as an
empty box, and a required date then blocks Save (the new mapping change's effective date did)."""

from __future__ import annotations

import importlib
import re
from datetime import date
from typing import Any

from django import forms
from django.test import Client
from django_filters import DateFilter, DateFromToRangeFilter, FilterSet

from integrator.models import MappingSet
from integrator.widgets import IsoDateInput, IsoDateRangeWidget

# Every module of ours that defines forms or filter sets (imported so their classes are known).
FORM_MODULES = [
    "integrator.filters",
    "integrator.forms",
    "integrator.views.mappings",
    "integrator.security.forms",
    "reconciliation.forms",
    "reconciliation.filters",
]


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def _ours(cls: type) -> bool:
    return cls.__module__.split(".")[0] in ("integrator", "reconciliation")


def test_the_new_change_form_shows_its_effective_date(channel: Any, users: Any) -> None:
    mapping_set = MappingSet.objects.get(channel=channel)
    client = Client()
    client.force_login(users["finance_clerk"])
    html = client.get(f"/mappings/sets/{mapping_set.pk}/").content.decode()
    field = re.search(r'<input type="date" name="effective_from"[^>]*>', html)
    assert field is not None, "a date input"
    assert re.search(r'value="\d{4}-\d{2}-\d{2}"', field.group(0)), field.group(0)
    assert not re.search(r'value="\d{2}/\d{2}/\d{4}"', field.group(0))


def test_typed_british_dates_are_still_read() -> None:
    class Probe(forms.Form):
        day = forms.DateField(widget=IsoDateInput())

    for typed in ("2026-11-01", "01/11/2026"):
        form = Probe({"day": typed})
        assert form.is_valid() and form.cleaned_data["day"] == date(2026, 11, 1), typed
    assert 'value="2026-11-01"' in str(Probe(initial={"day": date(2026, 11, 1)})["day"])


def test_every_date_field_of_every_form_and_filter_uses_the_iso_widget() -> None:
    for name in FORM_MODULES:
        importlib.import_module(name)
    checked = []
    for form_class in filter(_ours, _subclasses(forms.BaseForm)):
        for field_name, field in form_class.base_fields.items():
            if isinstance(field, forms.DateField):
                checked.append(f"{form_class.__name__}.{field_name}")
                assert isinstance(field.widget, IsoDateInput), checked[-1]
    for filterset_class in filter(_ours, _subclasses(FilterSet)):
        for filter_name, flt in filterset_class.base_filters.items():
            if isinstance(flt, DateFromToRangeFilter):
                checked.append(f"{filterset_class.__name__}.{filter_name}")
                widget = flt.extra.get("widget")
                assert isinstance(widget, IsoDateRangeWidget), checked[-1]
                assert all(isinstance(w, IsoDateInput) for w in widget.widgets), checked[-1]
            elif isinstance(flt, DateFilter):
                checked.append(f"{filterset_class.__name__}.{filter_name}")
                assert isinstance(flt.extra.get("widget"), IsoDateInput), checked[-1]
    assert {
        "ChangeForm.effective_from",
        "StartRunForm.day",
        "TransactionFilterSet.business_date",
        "ExceptionFilter.day",
        "ExceptionFilter.day_from",
    } <= set(checked)
