"""Form widgets shared by every screen.

A browser's ``<input type="date">`` only understands ISO dates (``2026-11-01``): given the British
``01/11/2026`` that Django's localised ``DateInput`` writes for ``en-gb``, it shows an empty box,
and a required date then blocks the form. Every date field of every form and filter bar uses
:class:`IsoDateInput` (or :class:`IsoDateRangeWidget`), so the value always travels as ISO; typed
input is still parsed with the locale's formats as well as ISO.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django_filters.widgets import DateRangeWidget

__all__ = ["ISO_DATE", "IsoDateInput", "IsoDateRangeWidget"]

ISO_DATE = "%Y-%m-%d"


class IsoDateInput(forms.DateInput):
    """``<input type="date">`` whose value is always written as ``YYYY-MM-DD``."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format=ISO_DATE)


class IsoDateRangeWidget(DateRangeWidget):
    """A from / to pair of ISO date inputs (``<name>_after`` and ``<name>_before``)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        inputs: list[forms.Widget] = [IsoDateInput(w.attrs) for w in self.widgets]  # type: ignore[has-type]
        self.widgets = inputs
