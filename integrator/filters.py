"""FilterSets shared by the screens and the REST API (one definition per resource, as NetBox does).

The same query string filters a list page, its CSV/XLSX export and the API list endpoint:
``/transactions/?status=posted&channel=web-shop`` and ``/api/v1/transactions/?status=posted&channel=web-shop``
return the same rows. Conventions:

* ``q`` is the free-text search of each resource (numbers, references, amounts).
* A relation can be filtered by its id (``channel_id``) or, where it has one, its slug (``channel``).
* Choice filters accept several values (``state=dead&state=held``).
* Date ranges use ``<field>_after`` / ``<field>_before`` (inclusive).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import django_filters as filters
from django import forms
from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from integrator.choices import (
    AccountType,
    EntryKind,
    EventStatus,
    PostingMode,
    PostingState,
    TransactionKind,
    TransactionStatus,
)
from integrator.models import (
    AuditEvent,
    Channel,
    InboundEvent,
    Job,
    JournalEntry,
    LedgerAccount,
    LedgerConnection,
    Posting,
    TaxCode,
    Transaction,
)
from integrator.widgets import IsoDateRangeWidget

__all__ = [
    "AuditEventFilterSet",
    "ChannelFilterSet",
    "DropdownMultiple",
    "InboundEventFilterSet",
    "JobFilterSet",
    "JournalEntryFilterSet",
    "LedgerAccountFilterSet",
    "LedgerConnectionFilterSet",
    "PostingFilterSet",
    "TaxCodeFilterSet",
    "TransactionFilterSet",
    "parse_amount_query",
]


class DropdownMultiple(forms.Select):
    """A single drop-down on screen that still reads every value of a repeated query parameter.

    Screens show one choice at a time (a calm filter bar); links and API clients may repeat the
    parameter (``state=dead&state=held``). Blank values mean "any" and are dropped.
    """

    allow_multiple_selected = False

    def __init__(self, blank_label: str = "Any", attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.blank_label = blank_label

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        """Every non-blank value of ``name``."""
        getter = getattr(data, "getlist", None)
        values = getter(name) if getter is not None else data.get(name)
        if values is None:
            return []
        if isinstance(values, str):
            values = [values]
        return [v for v in values if v not in ("", None)]

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        """Never omitted: an absent parameter is an empty selection."""
        return False

    def optgroups(self, name: str, value: Any, attrs: dict[str, Any] | None = None) -> list[Any]:
        """The choices, led by a blank "Any ..." option selected when nothing is chosen."""
        groups = super().optgroups(name, value, attrs)
        blank = self.create_option(name, "", self.blank_label, not [v for v in value if v], 0, attrs=attrs)
        return [(None, [blank], 0), *groups]


@extend_schema_field(OpenApiTypes.STR)
class SlugMultipleFilter(filters.ModelMultipleChoiceFilter):
    """Objects by slug, several allowed (``channel=web-shop&channel=wholesale``)."""


def _channel_by_slug(field_name: str) -> SlugMultipleFilter:
    return SlugMultipleFilter(
        field_name=field_name,
        to_field_name="slug",
        queryset=Channel.objects.all(),
        widget=DropdownMultiple("Any channel"),
        label="Channel",
        help_text="Channel slug; repeat for several.",
    )


def _choices(label: str, **kw: Any) -> filters.MultipleChoiceFilter:
    return filters.MultipleChoiceFilter(
        widget=DropdownMultiple(f"Any {label}"), label=label.capitalize(), **kw
    )


def _date_range(field_name: str, label: str) -> filters.DateFromToRangeFilter:
    return filters.DateFromToRangeFilter(
        field_name=field_name,
        label=label,
        widget=IsoDateRangeWidget(),
    )


def parse_amount_query(text: str) -> Decimal | None:
    """An amount typed into a search box (``1,203.50``, ``£12``, ``-4.5``) or None."""
    cleaned = text.strip().replace(",", "").lstrip("£$€").strip()
    if not cleaned or len(cleaned) > 24:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


class BaseFilterSet(filters.FilterSet):
    """Adds the free-text ``q`` filter; subclasses say which fields it searches."""

    q = filters.CharFilter(method="search", label="Search")
    search_fields: tuple[str, ...] = ()

    def search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        """Case-insensitive containment over ``search_fields``."""
        value = value.strip()
        if not value:
            return queryset
        query = Q()
        for field in self.search_fields:
            query |= Q(**{f"{field}__icontains": value})
        return queryset.filter(query)


class ChannelFilterSet(BaseFilterSet):
    """Sales channels."""

    search_fields = ("name", "slug", "platform")
    platform = filters.CharFilter()
    slug = filters.CharFilter()
    posting_mode = _choices("posting mode", choices=PostingMode.choices)
    ledger_connection_id = filters.ModelMultipleChoiceFilter(
        field_name="ledger_connection", queryset=LedgerConnection.objects.all(), label="Ledger connection"
    )

    class Meta:
        model = Channel
        fields = ["q", "platform", "slug", "active", "posting_mode", "ledger_connection_id"]


class LedgerConnectionFilterSet(BaseFilterSet):
    """Ledger connections."""

    search_fields = ("name", "platform")
    platform = filters.CharFilter()

    class Meta:
        model = LedgerConnection
        fields = ["q", "platform", "active", "needs_reauth", "functional_currency"]


class LedgerAccountFilterSet(BaseFilterSet):
    """Accounts of the ledgers' charts."""

    search_fields = ("code", "name")
    connection_id = filters.ModelMultipleChoiceFilter(
        field_name="connection", queryset=LedgerConnection.objects.all(), label="Ledger connection"
    )
    type = _choices("type", choices=AccountType.choices)
    code = filters.CharFilter()

    class Meta:
        model = LedgerAccount
        fields = ["q", "connection_id", "type", "active", "code"]


class TaxCodeFilterSet(BaseFilterSet):
    """Ledger tax codes."""

    search_fields = ("code", "name")
    connection_id = filters.ModelMultipleChoiceFilter(
        field_name="connection", queryset=LedgerConnection.objects.all(), label="Ledger connection"
    )
    code = filters.CharFilter()

    class Meta:
        model = TaxCode
        fields = ["q", "connection_id", "active", "code"]


class TransactionFilterSet(BaseFilterSet):
    """Canonical transactions: by channel, kind, status, day, amount; ``q`` finds order numbers,
    vendor ids and amounts (``q=144`` finds totals of 144.00 and refunds of -144.00)."""

    channel = _channel_by_slug("channel__slug")
    channel_id = filters.ModelMultipleChoiceFilter(
        field_name="channel", queryset=Channel.objects.all(), label="Channel (id)"
    )
    kind = _choices("kind", choices=TransactionKind.choices)
    status = _choices("status", choices=TransactionStatus.choices)
    currency = filters.CharFilter(lookup_expr="iexact")
    business_date = _date_range("business_date", "Business day")
    total_min = filters.NumberFilter(field_name="total", lookup_expr="gte", label="Total at least")
    total_max = filters.NumberFilter(field_name="total", lookup_expr="lte", label="Total at most")
    external_id = filters.CharFilter()
    number = filters.CharFilter()

    class Meta:
        model = Transaction
        fields = ["q", "channel", "channel_id", "kind", "status", "currency", "business_date",
                  "total_min", "total_max", "external_id", "number"]  # fmt: skip

    def search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        """Order/document number, vendor id, the number a ledger document carries (ours, shortened
        where the vendor's field is short, or the ledger's own), or an amount (total or tax)."""
        value = value.strip()
        if not value:
            return queryset
        in_ledger = JournalEntry.objects.filter(
            Q(number__icontains=value) | Q(posting__remote_number__icontains=value)
            | Q(summary__number__icontains=value) | Q(summary__posting__remote_number__icontains=value)
        ).values("transaction_id")  # fmt: skip
        query = Q(number__icontains=value) | Q(external_id__icontains=value) | Q(pk__in=in_ledger)
        amount = parse_amount_query(value)
        if amount is not None:
            query |= Q(total=amount) | Q(total=-amount) | Q(tax_total=amount)
        return queryset.filter(query)


class JournalEntryFilterSet(BaseFilterSet):
    """Journal entries: by channel, connection, kind, day; ``q`` finds references and amounts."""

    channel = _channel_by_slug("channel__slug")
    channel_id = filters.ModelMultipleChoiceFilter(
        field_name="channel", queryset=Channel.objects.all(), label="Channel (id)"
    )
    connection_id = filters.ModelMultipleChoiceFilter(
        field_name="connection", queryset=LedgerConnection.objects.all(), label="Ledger connection"
    )
    kind = _choices("kind", choices=EntryKind.choices)
    date = _date_range("date", "Date")
    currency = filters.CharFilter(lookup_expr="iexact")
    transaction_id = filters.UUIDFilter(field_name="transaction")
    reference = filters.CharFilter()
    superseded = filters.BooleanFilter()

    class Meta:
        model = JournalEntry
        fields = ["q", "channel", "channel_id", "connection_id", "kind", "date", "currency",
                  "transaction_id", "reference", "superseded"]  # fmt: skip

    def search(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        """Reference, memo, the document number sent or the ledger's own, or an amount on any line."""
        value = value.strip()
        if not value:
            return queryset
        query = (
            Q(reference__icontains=value) | Q(memo__icontains=value) | Q(number__icontains=value)
            | Q(posting__remote_number__icontains=value)
        )  # fmt: skip
        amount = parse_amount_query(value)
        if amount is not None and amount > 0:
            ids = JournalEntry.objects.filter(Q(lines__debit=amount) | Q(lines__credit=amount)).values("pk")
            query |= Q(pk__in=ids)
        return queryset.filter(query)


class PostingFilterSet(BaseFilterSet):
    """Outbox postings: by state (several at once), connection, channel, date, error class."""

    search_fields = ("entry__reference", "remote_id", "remote_number", "idempotency_key")
    state = _choices("state", choices=PostingState.choices)
    connection_id = filters.ModelMultipleChoiceFilter(
        field_name="connection", queryset=LedgerConnection.objects.all(), label="Ledger connection"
    )
    channel = _channel_by_slug("entry__channel__slug")
    posting_date = _date_range("posting_date", "Posting date")
    idempotency_key = filters.CharFilter()
    error_class = filters.CharFilter()
    transaction_id = filters.UUIDFilter(field_name="entry__transaction")

    class Meta:
        model = Posting
        fields = ["q", "state", "connection_id", "channel", "posting_date", "idempotency_key",
                  "error_class", "transaction_id"]  # fmt: skip


class AuditEventFilterSet(BaseFilterSet):
    """The audit trail: by action (prefix), object, actor, request id, time."""

    search_fields = ("action", "object_repr", "object_id", "actor_label")
    action = filters.CharFilter(
        lookup_expr="startswith", help_text="Prefix: 'posting.' finds all posting actions."
    )
    object_type = filters.CharFilter()
    object_id = filters.CharFilter()
    # Bounded to a database integer: an id past 2**63 is a 400, not an overflow in the driver.
    actor_id = filters.NumberFilter(field_name="actor", min_value=1, max_value=2**63 - 1, decimal_places=0)
    actor = filters.CharFilter(field_name="actor_label", label="Actor (username)")
    request_id = filters.CharFilter()
    occurred_at = filters.DateFromToRangeFilter(
        field_name="occurred_at__date",
        label="Day",
        widget=IsoDateRangeWidget(),
    )

    class Meta:
        model = AuditEvent
        fields = ["q", "action", "object_type", "object_id", "actor_id", "actor", "request_id", "occurred_at"]


class InboundEventFilterSet(BaseFilterSet):
    """The inbox: by channel, status, type, source."""

    search_fields = ("dedupe_key", "event_type")
    channel = _channel_by_slug("channel__slug")
    status = _choices("status", choices=EventStatus.choices)
    event_type = filters.CharFilter()
    source = filters.CharFilter()
    received_at = filters.DateFromToRangeFilter(
        field_name="received_at__date",
        label="Received",
        widget=IsoDateRangeWidget(),
    )

    class Meta:
        model = InboundEvent
        fields = ["q", "channel", "status", "event_type", "source", "received_at"]


class JobFilterSet(BaseFilterSet):
    """Long-running work: by kind and status."""

    search_fields = ("description", "message")
    kind = filters.CharFilter()
    status = _choices("status", choices=[("running", "Running"), ("done", "Done"), ("failed", "Failed")])

    class Meta:
        model = Job
        fields = ["q", "kind", "status"]
