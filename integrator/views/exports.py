"""CSV and XLSX downloads of any list screen, with the screen's filters and sort order.

Every list screen answers ``?export=csv`` and ``?export=xlsx`` (see :class:`ObjectListView
<integrator.views.lists.ObjectListView>`): the same FilterSet and sort apply, without paging.
CSV is streamed row by row; XLSX is written with openpyxl's write-only mode.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

from integrator import money
from integrator.cells import inert_text
from integrator.tables import Table

__all__ = [
    "EXPORT_FORMATS",
    "csv_value",
    "export_response",
    "export_rows",
    "xlsx_money_format",
    "xlsx_row",
    "xlsx_value",
]

EXPORT_FORMATS = ("csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Cells that a spreadsheet would run as a formula (CSV injection) get a leading apostrophe.
_safe_text = inert_text


def csv_value(value: Any) -> str:
    """A cell as CSV text: exact decimals, ISO dates, local times, no formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return (
            timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
            if timezone.is_aware(value)
            else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | UUID):
        return str(value)
    return _safe_text(str(value))


def xlsx_value(value: Any) -> Any:
    """A cell for openpyxl: numbers stay numbers (Decimal), times become naive local times."""
    if value is None:
        return None
    if isinstance(value, bool | int | Decimal | date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if isinstance(value, UUID):
        return str(value)
    return _safe_text(str(value))


def xlsx_money_format(currency: str = "") -> str:
    """The spreadsheet number format of an amount: thousands separators and the currency's minor
    units (``#,##0.00`` for GBP, ``#,##0`` for XOF, ``#,##0.000`` for TND); two places when unknown."""
    places = money.minor_units(currency) if currency and money.is_known_currency(currency) else 2
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return f"{pattern};-{pattern}"


def xlsx_row(sheet: Any, values: Iterable[Any], currency: str = "") -> list[Any]:
    """One row for ``sheet.append``: every cell through :func:`xlsx_value`, and amounts (Decimals)
    written as numbers with the row currency's number format instead of "General". The one place
    where every XLSX writer formats its amounts."""
    from openpyxl.cell import WriteOnlyCell

    row: list[Any] = []
    for value in values:
        cell_value = xlsx_value(value)
        if isinstance(cell_value, Decimal):
            cell = WriteOnlyCell(sheet, value=cell_value)
            cell.number_format = xlsx_money_format(currency)
            row.append(cell)
        else:
            row.append(cell_value)
    return row


class _Echo:
    """A write-only file for csv.writer that hands each line back."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(header: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # a BOM so spreadsheet programs read UTF-8 (names like "Bogolan", "Dakar", "€")
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_value(v) for v in row])


def _rows(table: Table) -> Iterator[list[Any]]:
    queryset = table.queryset
    # Prefetches need a chunk size to work with iterator(); 2,000 rows per round trip.
    return table.export_rows(queryset.iterator(chunk_size=2000))


def export_response(table: Table, fmt: str, filename: str) -> HttpResponse | StreamingHttpResponse:
    """The download of ``table`` (already filtered and sorted) as ``fmt`` ('csv' or 'xlsx')."""
    currency_at = next((i for i, c in enumerate(table.columns) if c.name == "currency"), None)
    return export_rows(table.export_header(), _rows(table), fmt, filename, currency_at=currency_at)


def export_rows(
    header: list[str],
    rows: Iterable[list[Any]],
    fmt: str,
    filename: str,
    *,
    currency_at: int | None = None,
) -> HttpResponse | StreamingHttpResponse:
    """The download of ``rows`` under ``header`` as ``fmt`` ('csv' or 'xlsx'): list screens and
    reports share it. ``currency_at`` is the column holding each row's currency (amounts are
    formatted with its minor units in XLSX)."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    name = f"{filename}-{stamp}.{fmt}"
    if fmt == "csv":
        response: HttpResponse | StreamingHttpResponse = StreamingHttpResponse(
            _csv_lines(header, rows), content_type="text/csv; charset=utf-8"
        )
    elif fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(title=filename[:31])
        sheet.append(header)
        for row in rows:
            sheet.append(xlsx_row(sheet, row, str(row[currency_at] or "") if currency_at is not None else ""))
        buffer = io.BytesIO()
        book.save(buffer)
        response = HttpResponse(buffer.getvalue(), content_type=XLSX_TYPE)
    else:
        return HttpResponse(f"unknown export format {fmt!r}", status=400, content_type="text/plain")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
