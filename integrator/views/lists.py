"""The generic list screen: FilterSet + sortable table + pagination + CSV/XLSX export.

A list screen declares its queryset, the shared FilterSet (``integrator.filters``, the same one the
API uses), a table (``integrator.tables``), a template and which filters its filter bar shows. The
number of SQL queries a page costs does not grow with the number of rows (tests/ui check it):
querysets select or prefetch what their rows show.
"""

from __future__ import annotations

from typing import Any, ClassVar

import django_filters
from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views import View

from integrator.tables import Table
from integrator.views.exports import EXPORT_FORMATS, export_response

__all__ = ["PER_PAGE_CHOICES", "ObjectListView"]

PER_PAGE_CHOICES = (25, 50, 100, 250)


class ObjectListView(LoginRequiredMixin, PermissionRequiredMixin, View):
    """A filtered, sorted, paginated, exportable list. Subclasses set the class attributes."""

    queryset: ClassVar[QuerySet[Any]]
    filterset_class: ClassVar[type[django_filters.FilterSet]]
    table_class: ClassVar[type[Table]]
    template_name: ClassVar[str]
    title: ClassVar[str] = ""
    export_name: ClassVar[str] = "export"
    filter_bar: ClassVar[tuple[str, ...]] = ("q",)
    per_page: ClassVar[int] = 50
    raise_exception = False

    def get_queryset(self) -> QuerySet[Any]:
        """The unfiltered rows (a fresh clone per request)."""
        return self.queryset.all()

    def extra_context(self, request: HttpRequest) -> dict[str, Any]:
        """Anything else the template needs (counts for tabs, choices ...)."""
        return {}

    def prepare_page(self, request: HttpRequest, rows: list[Any]) -> None:
        """Add what the rows of the shown page need beyond their query (a constant number of
        queries, never one per row)."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse | StreamingHttpResponse:
        """Filter, sort, then either export everything or render one page."""
        filterset = self.filterset_class(request.GET, queryset=self.get_queryset(), request=request)
        rows = filterset.qs if filterset.is_valid() else self.get_queryset().none()
        table = self.table_class(rows, request)
        fmt = request.GET.get("export", "")
        if fmt in EXPORT_FORMATS:
            return export_response(table, fmt, self.export_name)
        per_page = _per_page(request.GET.get("per_page"), self.per_page)
        page = Paginator(table.queryset, per_page).get_page(request.GET.get("page"))
        page.object_list = list(page.object_list)
        self.prepare_page(request, page.object_list)
        active_filters = [
            name for name in self.filter_bar if any(v for v in request.GET.getlist(name) if v)
        ] + [name for name in request.GET if name.endswith(("_after", "_before")) and request.GET[name]]
        context = {
            "title": self.title,
            "filterset": filterset,
            "filter_fields": [
                filterset.form[name] for name in self.filter_bar if name in filterset.form.fields
            ],
            "filters_active": bool(active_filters),
            "table": table,
            "headers": table.headers(),
            "page": page,
            "per_page": per_page,
            "per_page_choices": PER_PAGE_CHOICES,
            "export_formats": EXPORT_FORMATS,
            **self.extra_context(request),
        }
        return render(request, self.template_name, context)


def _per_page(raw: str | None, default: int) -> int:
    try:
        value = int(raw or default)
    except ValueError:
        return default
    return max(1, min(value, 500))
