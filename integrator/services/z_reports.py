"""Z report files: the end-of-day reports of tills that can only export files (Prysm POS).

* :func:`save_mapping` keeps a till's column mapping (our fields -> its file's headers) on the
  channel, audited.
* :func:`preview_z_report` reads and checks a CSV or XLSX file and says what importing it would
  do, report by report (new, already imported, imported before with other figures); nothing is
  stored.
* :func:`import_z_report` stores each report of a file as one inbox event (source ``file``,
  deduplicated on till, date and report number), all in one database transaction, and the worker
  turns each into a sale summary, a refund summary and a cash count. A file with any bad row
  imports **nothing**: every problem is reported with its row number. Importing the same file
  again books nothing new.

A till that also sends its tickets by webhook must not have its Z report imported for the same
day as well (the day would be booked twice): such a report is refused with the reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet

from connectors.base import WebhookEnvelope
from connectors.sources.prysm import Z_REPORT_EVENT
from connectors.sources.prysm.z_report import (
    FIELDS,
    ZReport,
    ZReportMapping,
    ZRowError,
    parse_z_report,
    report_key,
)
from integrator.models import Channel, InboundEvent, Transaction
from integrator.services import audit
from integrator.services.chart import ChartFileError, load_dataset
from integrator.services.ingest import store_event

__all__ = [
    "IMPORT_PERMISSION",
    "PLATFORMS",
    "ReportLine",
    "ZReportImport",
    "ZReportRejected",
    "import_z_report",
    "imported_reports",
    "mapping_for",
    "preview_z_report",
    "save_mapping",
]

#: Platforms whose tills export Z reports.
PLATFORMS = ("prysm",)
IMPORT_PERMISSION = "integrator.change_transaction"
MAPPING_PERMISSIONS = ("integrator.change_transaction", "integrator.change_channel")
MAX_FILE_BYTES = 5 * 1024 * 1024


class ZReportRejected(ValueError):
    """The file or the channel cannot take a Z report import (said in words for the screen)."""


@dataclass(frozen=True)
class ReportLine:
    """One report of a file, as the preview and the result show it."""

    key: str
    number: str
    day: date
    register: str
    location: str
    currency: str
    sales: Decimal
    refunds: Decimal
    tips: Decimal
    tenders: dict[str, Decimal]
    cash: dict[str, Decimal]
    rows: tuple[int, ...]
    status: str  # new | imported | changed

    @property
    def over_short(self) -> Decimal | None:
        """Counted less expected cash, when the report counted the drawer."""
        if "counted" not in self.cash:
            return None
        return self.cash["counted"] - self.cash.get("expected", Decimal(0))


@dataclass
class ZReportImport:
    """The outcome of a preview or an import."""

    filename: str
    sha256: str
    dry_run: bool
    total_rows: int
    reports: list[ReportLine] = field(default_factory=list)
    errors: list[ZRowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    imported: bool = False
    #: The reports as the inbox stores them, by dedupe key (what an import writes).
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """No problem: the file can be (or was) imported."""
        return not self.errors

    @property
    def new(self) -> int:
        """Reports the import adds (or added)."""
        return sum(1 for r in self.reports if r.status == "new")

    @property
    def already(self) -> int:
        """Reports imported before (the same figures or not)."""
        return sum(1 for r in self.reports if r.status != "new")

    def as_dict(self) -> dict[str, Any]:
        """JSON for the API and the command."""
        return {
            "file": self.filename, "sha256": self.sha256, "preview": self.dry_run, "rows": self.total_rows,
            "imported": self.imported, "new": self.new, "already_imported": self.already,
            "warnings": self.warnings,
            "errors": [{"row": e.row, "line": e.line, "messages": list(e.messages)} for e in self.errors],
            "reports": [
                {"number": r.number, "date": r.day.isoformat(), "register": r.register, "location": r.location,
                 "currency": r.currency, "sales": str(r.sales), "refunds": str(r.refunds), "tips": str(r.tips),
                 "tenders": {k: str(v) for k, v in r.tenders.items()}, "cash": {k: str(v) for k, v in r.cash.items()},
                 "status": r.status, "rows": list(r.rows)}
                for r in self.reports
            ],
        }  # fmt: skip


# -- the mapping --------------------------------------------------------------------------------


def _require(actor: Any, perms: tuple[str, ...], what: str) -> None:
    """People need one of ``perms``; ``actor=None`` is the system (a command run by an operator)."""
    if actor is None:
        return
    if not getattr(actor, "is_authenticated", False) or not any(actor.has_perm(p) for p in perms):
        raise PermissionDenied(f"You may not {what}.")


def _check_channel(channel: Channel) -> None:
    if channel.platform not in PLATFORMS:
        raise ZReportRejected(
            f"{channel.name} is a {channel.platform} channel: only Prysm tills import Z reports"
        )


def mapping_for(channel: Channel) -> ZReportMapping:
    """The till's saved column mapping (the default one until someone saves it)."""
    return ZReportMapping.from_settings((channel.settings or {}).get("z_report"))


def save_mapping(
    channel: Channel,
    *,
    columns: dict[str, str],
    date_format: str = "%Y-%m-%d",
    decimal_comma: bool = False,
    tax_label: str = "Tax",
    actor: Any,
) -> ZReportMapping:
    """Save a till's column mapping on its channel (audited). Raises :class:`ZReportRejected`
    with the reasons when the mapping cannot work."""
    _require(actor, MAPPING_PERMISSIONS, "change how this till's Z reports are read")
    _check_channel(channel)
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise ZReportRejected(f"unknown fields: {', '.join(unknown)}")
    mapping = ZReportMapping(
        columns={k: v.strip() for k, v in columns.items() if v and v.strip()},
        date_format=date_format or "%Y-%m-%d",
        decimal_comma=decimal_comma,
        tax_label=(tax_label or "Tax").strip()[:40],
    )
    problems = mapping.problems()
    if problems:
        raise ZReportRejected("; ".join(problems))
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        settings = dict(locked.settings or {})
        before = settings.get("z_report")
        settings["z_report"] = mapping.as_settings()
        locked.settings = settings
        locked.save(update_fields=["settings", "updated_at"])
        audit.record("channel.z_report_mapping_saved", obj=locked, before={"z_report": before},
                     after={"z_report": settings["z_report"]}, actor=actor)  # fmt: skip
    channel.settings = settings
    return mapping


# -- reading a file -------------------------------------------------------------------------------


def _format(filename: str, fmt: str | None) -> str:
    chosen = (fmt or (filename.rsplit(".", 1)[-1] if "." in filename else "csv")).lower()
    if chosen not in ("csv", "xlsx"):
        raise ZReportRejected(f"{filename or 'the file'} is not a CSV or XLSX file")
    return chosen


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("file", "rows")}


def _day_booked_by_webhooks(channel: Channel, report: ZReport) -> bool:
    """Whether the till already sent this day's tickets another way (webhook or pull)."""
    sales = Transaction.objects.filter(channel=channel, kind="sale", business_date=report.day).exclude(
        external_id__startswith="z:"
    )
    if report.register:
        sales = sales.filter(document__register=report.register)
    return sales.exists()


def _read(channel: Channel, content: bytes, filename: str, fmt: str | None, dry_run: bool) -> ZReportImport:
    _check_channel(channel)
    if len(content) > MAX_FILE_BYTES:
        raise ZReportRejected(f"{filename} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    digest = hashlib.sha256(content).hexdigest()
    try:
        dataset = load_dataset(content, _format(filename, fmt))
    except ChartFileError as exc:
        raise ZReportRejected(str(exc)) from exc
    settings = channel.settings or {}
    parsed = parse_z_report(
        dataset, mapping_for(channel), currency=channel.currency,
        register=str(settings.get("register") or ""), location=str(settings.get("location") or ""),
    )  # fmt: skip
    result = ZReportImport(filename=filename, sha256=digest, dry_run=dry_run, total_rows=parsed.total_rows,
                           errors=list(parsed.errors))  # fmt: skip
    if parsed.errors:
        return result
    keys = [report_key(r) for r in parsed.reports]
    stored = {e.dedupe_key: e for e in InboundEvent.objects.filter(channel=channel, dedupe_key__in=keys)}
    for report in parsed.reports:
        key = report_key(report)
        payload = report.as_json(filename=filename)
        status = "new"
        if key in stored:
            status = "imported"
            if _comparable(json.loads(stored[key].body)) != _comparable(json.loads(json.dumps(payload))):
                status = "changed"
                result.warnings.append(
                    f"Report {report.number} of {report.day} ({report.register or 'till'}) was imported before "
                    "with other figures; the earlier import stands. Correct it in the ledger if it was wrong."
                )
        elif _day_booked_by_webhooks(channel, report):
            result.errors.append(ZRowError(report.rows[0], (
                f"report {report.number} of {report.day}: {channel.name} already sent that day's tickets "
                f"{'from ' + report.register + ' ' if report.register else ''}by webhook; importing its Z report "
                "would book the day twice",
            )))  # fmt: skip
        result.reports.append(
            ReportLine(key=key, number=report.number, day=report.day, register=report.register,
                       location=report.location, currency=report.currency, sales=report.sales_total,
                       refunds=report.refunds_total, tips=report.tips, tenders=dict(report.tenders),
                       cash=dict(report.cash), rows=tuple(report.rows), status=status)
        )  # fmt: skip
    if result.errors:
        result.reports = []
    result.payloads = {report_key(r): r.as_json(filename=filename) for r in parsed.reports}
    return result


def preview_z_report(
    channel: Channel, content: bytes, *, filename: str, fmt: str | None = None, actor: Any
) -> ZReportImport:
    """What importing the file would do; nothing is stored."""
    _require(actor, (IMPORT_PERMISSION,), "import Z reports")
    return _read(channel, content, filename, fmt, dry_run=True)


def import_z_report(
    channel: Channel,
    content: bytes,
    *,
    filename: str,
    fmt: str | None = None,
    actor: Any,
    actor_label: str = "",
) -> ZReportImport:
    """Import every report of a file, or nothing when any row or report has a problem (audited)."""
    _require(actor, (IMPORT_PERMISSION,), "import Z reports")
    result = _read(channel, content, filename, fmt, dry_run=False)
    if not result.ok:
        return result
    with transaction.atomic():
        created = []
        for line in result.reports:
            envelope = WebhookEnvelope(dedupe_key=line.key, event_type=Z_REPORT_EVENT)
            body = json.dumps(result.payloads[line.key], sort_keys=True)
            stored = store_event(
                channel, envelope, body, {"x-integrator-file": filename[:200]}, source="file"
            )
            if stored.created:
                created.append(line.key)
        audit.record(
            "z_report.imported",
            obj=channel,
            before=None,
            after={"file": filename, "sha256": result.sha256, "rows": result.total_rows,
                   "new": created, "already_imported": [r.key for r in result.reports if r.key not in created]},
            actor=actor,
            actor_label=actor_label,
        )  # fmt: skip
    result.imported = True
    return result


def imported_reports(channel: Channel | None = None) -> QuerySet[InboundEvent]:
    """Inbox events of imported Z reports, newest first."""
    events = InboundEvent.objects.filter(source="file", event_type=Z_REPORT_EVENT).select_related("channel")
    if channel is not None:
        events = events.filter(channel=channel)
    return events.order_by("-received_at")
