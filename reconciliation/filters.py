"""One filter set per list, shared by the screens and the API."""

from __future__ import annotations

import django_filters
from django.db import models

from integrator.widgets import IsoDateInput
from reconciliation.choices import ExceptionKind, ExceptionStatus
from reconciliation.models import ReconciliationException

__all__ = ["ExceptionFilter"]


class ExceptionFilter(django_filters.FilterSet):
    """Exceptions by status, kind, channel, currency and day range; ``q`` searches the words."""

    status = django_filters.ChoiceFilter(choices=ExceptionStatus.choices)
    kind = django_filters.ChoiceFilter(choices=ExceptionKind.choices)
    channel = django_filters.UUIDFilter(field_name="channel_id")
    day_from = django_filters.DateFilter(field_name="day", lookup_expr="gte", widget=IsoDateInput())
    day_to = django_filters.DateFilter(field_name="day", lookup_expr="lte", widget=IsoDateInput())
    q = django_filters.CharFilter(field_name="explanation", lookup_expr="icontains")

    class Meta:
        model = ReconciliationException
        fields = ["status", "kind", "channel", "currency", "connection", "transaction", "bank_line", "day"]
        filter_overrides = {
            models.DateField: {
                "filter_class": django_filters.DateFilter,
                "extra": lambda f: {"widget": IsoDateInput()},
            }
        }
