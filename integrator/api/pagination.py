"""Cursor pagination: stable pages over growing tables."""

from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    """Newest first, by creation time; clients may ask for up to 500 rows a page."""

    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 500
