"""Prysm end-of-day Z reports read from CSV or XLSX through a django-import-export resource.

A till that can only export files gives us its Z report: one row per line of the report. The
retailer's file has its own headers, so each till (channel) keeps a **column mapping** from our
fields to its headers (:class:`ZReportMapping`, saved on the channel). Our fields:

===============  ========  ====================================================================
field            required  meaning
===============  ========  ====================================================================
report_number    yes       the Z report's number (``Z-0042``)
date             yes       the business day it closes
section          yes       what the row is: ``sale``, ``refund``, ``tender``, ``refund_tender``,
                           ``tip`` or ``cash`` (synonyms and French names are understood)
amount           yes       the row's amount, tax included (a decimal string or a number)
name                       a sales category (sale/refund rows), a payment method (tenders) or, for
                           cash rows, ``expected``, ``counted``, ``opening_float`` (part of the
                           expected cash: for information) or ``float_change``
tax_rate                   the sales row's tax rate: ``0.18``, ``18`` or ``18 %``
tax                        the tax included in the row's amount
tax_name                   the tax's name (else "<tax label> <rate>%", e.g. ``TVA 18%``)
register                   the till; else the channel's default register
location                   the shop; else the channel's default location
currency                   else the channel's currency
===============  ========  ====================================================================

Every row is checked on its own (a missing number, a date that is not one, an amount with more
decimals than the currency has, an unknown section) and every report as a whole (its tenders must
add up to its sales and tips, its refund tenders to its refunds, a count needs the expected cash).
Problems are reported with the row number (1 = the first row under the header); the caller imports
nothing from a file with any problem.

:func:`report_documents` turns one checked report (the JSON stored in the inbox) into canonical
documents: one sale summary (a line per category and tax rate, a tender per method, tax included),
a refund summary linked to it when the report has refunds, and a cash count when it has counted
cash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import tablib
from django.core.exceptions import ValidationError

from connectors.sources.prysm.z_rows import (
    FIELDS,
    REQUIRED,
    SECTIONS,
    ZReportMapping,
    ZReportResource,
    ZRow,
    ZRowError,
    method_name,
)
from integrator import money
from integrator.canonical import CanonicalDocument, CashCount, LineItem, Refund, Sale, TaxLine, Tender

__all__ = [
    "FIELDS",
    "REQUIRED",
    "SECTIONS",
    "ZReport",
    "ZReportMapping",
    "ZReportParse",
    "ZReportResource",
    "ZRowError",
    "parse_z_report",
    "report_documents",
    "report_key",
]

ZERO = Decimal(0)


# -- reports ------------------------------------------------------------------------------------


@dataclass
class ZReport:
    """One checked Z report, as stored in the inbox (see :meth:`as_json`)."""

    number: str
    day: date
    register: str
    location: str
    currency: str
    rows: list[int] = field(default_factory=list)
    sales: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    tenders: dict[str, Decimal] = field(default_factory=dict)
    refund_tenders: dict[str, Decimal] = field(default_factory=dict)
    tips: Decimal = ZERO
    cash: dict[str, Decimal] = field(default_factory=dict)

    @property
    def sales_total(self) -> Decimal:
        """Sales tax included."""
        return sum((Decimal(s["amount"]) for s in self.sales), ZERO)

    @property
    def refunds_total(self) -> Decimal:
        """Refunds tax included."""
        return sum((Decimal(s["amount"]) for s in self.refunds), ZERO)

    def as_json(self, *, filename: str = "") -> dict[str, Any]:
        """The report as the inbox stores it (amounts as strings)."""
        return {
            "kind": "z_report", "number": self.number, "date": self.day.isoformat(), "register": self.register,
            "location": self.location, "currency": self.currency, "file": filename, "rows": self.rows,
            "sales": self.sales, "refunds": self.refunds,
            "tenders": {k: str(v) for k, v in self.tenders.items()},
            "refund_tenders": {k: str(v) for k, v in self.refund_tenders.items()},
            "tips": str(self.tips), "cash": {k: str(v) for k, v in self.cash.items()},
        }  # fmt: skip


def report_key(report: Mapping[str, Any] | ZReport) -> str:
    """The dedupe key of a report within its channel: (till, date, report number)."""
    if isinstance(report, ZReport):
        register, day, number = report.register, report.day.isoformat(), report.number
    else:
        register, day, number = report["register"], report["date"], report["number"]
    return f"zreport:{register or '-'}:{day}:{number}"[:200]


@dataclass
class ZReportParse:
    """What a file holds: its checked reports and every problem, by row."""

    total_rows: int
    reports: list[ZReport]
    errors: list[ZRowError]

    @property
    def ok(self) -> bool:
        """No problem anywhere: the file may be imported."""
        return not self.errors


def _sales_line(row: ZRow, row_number: int, label: str) -> dict[str, Any]:
    rate = row.tax_rate
    title = row.tax_name or (f"{label} {(rate * 100).normalize():f}%" if rate is not None else "")
    return {"row": row_number, "category": row.name or "Sales", "amount": str(row.amount),
            "tax": str(row.tax or ZERO), "tax_name": title, "tax_rate": str(rate) if rate is not None else ""}  # fmt: skip


def _group(rows: list[tuple[int, ZRow]], mapping: ZReportMapping) -> tuple[list[ZReport], list[ZRowError]]:
    """Rows to reports (by register, date and number), checking each report as a whole."""
    reports: dict[tuple[str, date, str], ZReport] = {}
    errors: list[ZRowError] = []
    for number, row in rows:
        assert row.date is not None and row.amount is not None
        key = (row.register, row.date, row.report_number)
        report = reports.get(key)
        if report is None:
            report = reports[key] = ZReport(
                row.report_number, row.date, row.register, row.location, row.currency
            )
        if (row.currency, row.location) != (report.currency, report.location):
            errors.append(ZRowError(number, (f"report {row.report_number} of {row.date} is in {report.currency} at "
                                             f"{report.location or 'no location'} on its first row",)))  # fmt: skip
            continue
        report.rows.append(number)
        if row.section == "sale":
            report.sales.append(_sales_line(row, number, mapping.tax_label))
        elif row.section == "refund":
            report.refunds.append(_sales_line(row, number, mapping.tax_label))
        elif row.section in ("tender", "refund_tender"):
            target = report.tenders if row.section == "tender" else report.refund_tenders
            method = method_name(row.name)
            target[method] = target.get(method, ZERO) + row.amount
        elif row.section == "tip":
            report.tips += row.amount
        elif row.section == "cash":
            report.cash[row.name] = report.cash.get(row.name, ZERO) + row.amount
    for report in reports.values():
        where = f"report {report.number} of {report.day}"
        rows_of = report.rows
        taken = sum(report.tenders.values(), ZERO)
        due = report.sales_total + report.tips
        if taken != due:
            errors.append(ZRowError(rows_of[-1], (f"{where}: the tenders add up to {taken} {report.currency} but the "
                                                  f"sales and tips to {due} {report.currency}",)))  # fmt: skip
        paid_back = sum(report.refund_tenders.values(), ZERO)
        if paid_back != report.refunds_total:
            errors.append(ZRowError(rows_of[-1], (f"{where}: the refund tenders add up to {paid_back} "
                                                  f"{report.currency} but the refunds to {report.refunds_total}",)))  # fmt: skip
        if report.refunds and not report.sales:
            errors.append(
                ZRowError(rows_of[0], (f"{where}: refunds without sales; import the day's sales with them",))
            )
        if any(v < 0 for v in report.tenders.values()) or any(v < 0 for v in report.refund_tenders.values()):
            errors.append(ZRowError(rows_of[0], (f"{where}: a tender adds up to less than zero",)))
        if "counted" in report.cash and "expected" not in report.cash:
            errors.append(
                ZRowError(rows_of[-1], (f"{where}: the counted cash needs the expected cash beside it",))
            )
        if any(v < 0 for k, v in report.cash.items() if k not in ("float_change", "opening_float")):
            errors.append(ZRowError(rows_of[-1], (f"{where}: cash expected or counted cannot be negative",)))
    return list(reports.values()), errors


def parse_z_report(
    dataset: tablib.Dataset, mapping: ZReportMapping, *, currency: str, register: str = "", location: str = ""
) -> ZReportParse:
    """Read and check every row and report of a file (nothing is stored)."""
    problems = mapping.problems()
    if problems:
        return ZReportParse(len(dataset), [], [ZRowError(0, ("the column mapping: " + "; ".join(problems),))])
    resource = ZReportResource(mapping, currency=currency, register=register, location=location)
    # Not a "dry run" for import-export: that would open a database transaction for nothing. The
    # resource never writes (save_instance only collects the checked rows).
    result = resource.import_data(dataset, dry_run=False, raise_errors=False, use_transactions=False)
    if result.base_errors:
        # The file as a whole cannot be read (a mapped column is missing): rows would only repeat it.
        return ZReportParse(len(dataset), [], [ZRowError(0, (str(b.error),)) for b in result.base_errors])
    errors: list[ZRowError] = []
    headers = list(dataset.headers or [])
    for invalid in result.invalid_rows:
        texts = tuple(
            f"{mapping.columns.get(name, name)}: {message}" if name in mapping.columns else message
            for name, problems in invalid.error_dict.items()
            for message in ValidationError(problems).messages
        )
        errors.append(ZRowError(invalid.number, texts, dict(zip(headers, invalid.values, strict=False))))
    for error_row in result.error_rows:
        errors.append(ZRowError(error_row.number, tuple(str(e.error) for e in error_row.errors),
                                dict(error_row.errors[0].row or {}) if error_row.errors else {}))  # fmt: skip
    if not resource.rows and not errors:
        errors.append(ZRowError(0, ("the file has no rows",)))
    reports: list[ZReport] = []
    if not errors:
        reports, errors = _group(resource.rows, mapping)
    errors.sort(key=lambda e: e.row)
    return ZReportParse(len(dataset), reports if not errors else [], errors)


# -- documents ----------------------------------------------------------------------------------


def _lines(entries: list[Mapping[str, Any]], currency: str) -> tuple[LineItem, ...]:
    out = []
    for entry in entries:
        amount = money.parse_amount(entry["amount"], currency)
        tax = money.parse_amount(entry.get("tax") or "0", currency)
        taxes: tuple[TaxLine, ...] = ()
        if entry.get("tax_name"):
            rate = Decimal(entry["tax_rate"]) if entry.get("tax_rate") else ZERO
            taxes = (TaxLine(title=str(entry["tax_name"]), rate=rate, amount=tax),)
        out.append(
            LineItem(
                line_id=f"row-{entry['row']}",
                sku="",
                name=str(entry["category"]),
                category=str(entry["category"]),
                quantity=Decimal(1),
                unit_price=amount,
                tax_lines=taxes,
            )
        )
    return tuple(out)


def report_documents(report: Mapping[str, Any], *, timezone: str = "UTC") -> list[CanonicalDocument]:
    """The canonical documents of one stored report (see the module docstring)."""
    cur = money.normalize_currency(report["currency"])
    day = date.fromisoformat(report["date"])
    # The report closes the day: its documents are dated at the day's last second, on the till's clock.
    at = datetime.combine(day, time(23, 59, 59), tzinfo=ZoneInfo(timezone or "UTC"))
    register, location = str(report.get("register") or ""), str(report.get("location") or "")
    ident = f"{register or '-'}:{day.isoformat()}:{report['number']}"
    number = "/".join(p for p in (register, day.isoformat(), f"Z{report['number']}") if p)
    till: dict[str, Any] = {"location": location, "register": register, "currency": cur, "occurred_at": at}
    docs: list[CanonicalDocument] = []
    tenders = {k: money.parse_amount(v, cur) for k, v in (report.get("tenders") or {}).items()}
    sale_id = f"z:{ident}"[:120]
    if report.get("sales"):
        tips = money.parse_amount(report.get("tips") or "0", cur)
        docs.append(
            Sale(external_id=sale_id, number=number, total=sum(tenders.values(), ZERO), prices_include_tax=True,
                 lines=_lines(report["sales"], cur), tips=tips,
                 tenders=tuple(Tender(method=m, amount=v, kind="gift_card" if m == "gift_card" else "payment")
                               for m, v in tenders.items() if v),
                 metadata={"z_report": str(report["number"]), "file": str(report.get("file") or "")}, **till)
        )  # fmt: skip
    if report.get("refunds"):
        paid_back = {k: money.parse_amount(v, cur) for k, v in (report.get("refund_tenders") or {}).items()}
        docs.append(
            Refund(external_id=f"zr:{ident}"[:120], sale_external_id=sale_id, number=f"{number}/R",
                   total=sum(paid_back.values(), ZERO), prices_include_tax=True, lines=_lines(report["refunds"], cur),
                   tenders=tuple(Tender(method=m, amount=v) for m, v in paid_back.items() if v),
                   reason="Z report refunds", **till)
        )  # fmt: skip
    cash = {k: money.parse_amount(v, cur) for k, v in (report.get("cash") or {}).items()}
    if "counted" in cash:
        docs.append(
            CashCount(external_id=f"zc:{ident}"[:120], number=number, expected=cash.get("expected", ZERO),
                      counted=cash["counted"], float_change=cash.get("float_change", ZERO), method="cash", **till)
        )  # fmt: skip
    return docs
