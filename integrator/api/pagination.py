"""Pagination: cursor pages over growing tables, page numbers for computed reports.

Cursor pagination keeps pages stable while rows arrive (no row seen twice or skipped, no
``COUNT(*)`` over millions of rows) and costs the same at page 1 and page 10,000.
"""

from __future__ import annotations

from rest_framework.pagination import CursorPagination, PageNumberPagination

__all__ = ["CreatedCursorPagination", "ReportPagination", "cursor_by"]


class CreatedCursorPagination(CursorPagination):
    """Newest first, by creation time; clients may ask for up to 500 rows a page."""

    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 500


def cursor_by(field: str) -> type[CreatedCursorPagination]:
    """A cursor pagination ordered by ``field`` (e.g. ``-received_at``, ``-id``)."""
    name = "CursorBy" + "".join(part.capitalize() for part in field.lstrip("-").split("_"))
    return type(name, (CreatedCursorPagination,), {"ordering": field, "__doc__": f"Cursor pages by {field}."})


class ReportPagination(PageNumberPagination):
    """Report rows (computed in order, e.g. running balances): numbered pages of up to 1,000."""

    page_size = 200
    page_size_query_param = "page_size"
    max_page_size = 1000
