"""A fake Prysm POS till: it rings up tickets, sends them as our generic signed JSON webhook (what
Prysm's "transaction completed" webhook is set up to send), and prints its end-of-day Z report as
a CSV or XLSX file with its own French headers.

Prysm has no API for us to call, so this sandbox is a sender, not a server. What it sends follows
``connectors/sources/generic_schema.json``: ``sale.completed`` per ticket (lines with tax
included, split tenders, cash change), ``sale.voided`` for a voided ticket, ``refund.completed``
for a return and ``cash_count.completed`` for the drawer count. Deliveries are signed exactly as
docs/generic-webhook.md says (``X-Integrator-Timestamp``, ``X-Integrator-Signature: v1=...``).

The Z report is the till's own arithmetic, independent of ours: per category and tax rate the
sales of the day (voided tickets left out), the refunds, the tenders per payment method net of
change, and the drawer (expected, counted). Amounts are written the French way (``15 500``).
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import requests

from connectors.sources.generic import sign

__all__ = ["HEADERS", "PrysmTill", "Ticket"]

ZERO = Decimal(0)
#: The till's Z report headers (a column mapping maps them to our fields).
HEADERS = ["N° Z", "Date", "Caisse", "Rubrique", "Libellé", "Taux TVA", "TVA", "Montant"]
_PAYMENT_LABELS = {
    "cash": "Espèces",
    "orange_money": "Orange Money",
    "wave": "Wave",
    "card": "Carte bancaire",
}


def _amount(value: Decimal) -> str:
    return format(value, "f")


@dataclass
class Ticket:
    """One ticket as the till keeps it: lines (category, sku, name, qty, unit price incl. tax),
    tenders (method, amount kept, change), and whether it was voided."""

    id: str
    number: str
    at: datetime
    lines: list[dict[str, Any]]
    tenders: list[dict[str, Any]]
    total: Decimal
    voided: bool = False
    refund_of: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)


class PrysmTill:
    """One Prysm till (a register in a shop) in a currency with one tax rate."""

    def __init__(
        self,
        *,
        secret: str,
        location: str = "Dakar Plateau",
        register: str = "Caisse 1",
        currency: str = "XOF",
        tax_title: str = "TVA 18%",
        tax_rate: Decimal = Decimal("0.18"),
        decimals: int = 0,
    ) -> None:
        self.secret = secret
        self.location, self.register, self.currency = location, register, currency
        self.tax_title, self.tax_rate = tax_title, tax_rate
        self.exp = Decimal(1).scaleb(-decimals)
        self.tickets: list[Ticket] = []
        self.counter = 0
        self.cash_float = ZERO
        self.counted: Decimal | None = None

    # -- the till ----------------------------------------------------------------------------

    def _tax(self, gross: Decimal) -> Decimal:
        return (gross * self.tax_rate / (1 + self.tax_rate)).quantize(self.exp, rounding=ROUND_HALF_UP)

    def sell(
        self,
        at: datetime,
        items: list[tuple[str, str, str, int, Decimal]],
        payments: list[tuple[str, Decimal]],
    ) -> Ticket:
        """Ring up a ticket: items are (category, sku, name, quantity, unit price incl. tax);
        payments are (method, amount handed over); cash over the total is given back as change."""
        self.counter += 1
        lines = []
        total = ZERO
        for i, (category, sku, name, qty, price) in enumerate(items, 1):
            gross = (price * qty).quantize(self.exp)
            total += gross
            lines.append({"id": str(i), "sku": sku, "name": name, "category": category, "quantity": qty,
                          "unit_price": _amount(price),
                          "taxes": [{"title": self.tax_title, "rate": str(self.tax_rate), "amount": _amount(self._tax(gross))}]})  # fmt: skip
        handed = sum((a for _, a in payments), ZERO)
        change = handed - total
        if change < 0:
            raise ValueError(f"ticket {self.counter}: {handed} handed over for {total}")
        tenders = []
        for method, amount in payments:
            kept, back = amount, ZERO
            if method == "cash" and change:
                back, kept = change, amount - change
            tenders.append({"method": method, "amount": kept, "change": back})
        ticket = Ticket(id=f"PRY-{self.register[-1]}-{uuid.uuid4().hex[:10]}", number=f"T{self.counter:04d}",
                        at=at, lines=lines, tenders=tenders, total=total)  # fmt: skip
        self.tickets.append(ticket)
        ticket.events.append(self._event("sale.completed", self._sale_data(ticket)))
        return ticket

    def void(self, ticket: Ticket, at: datetime) -> dict[str, Any]:
        """Void a ticket; the event to send."""
        ticket.voided = True
        data = self._sale_data(ticket)
        data["updated_at"] = at.isoformat()
        event = self._event("sale.voided", data)
        ticket.events.append(event)
        return event

    def refund(
        self, original: Ticket, at: datetime, line_index: int, quantity: int, method: str = "cash"
    ) -> Ticket:
        """Refund ``quantity`` of one line of an earlier ticket (possibly of another day)."""
        self.counter += 1
        line = original.lines[line_index]
        gross = (Decimal(line["unit_price"]) * quantity).quantize(self.exp)
        returned = {**line, "quantity": quantity,
                    "taxes": [{"title": self.tax_title, "rate": str(self.tax_rate), "amount": _amount(self._tax(gross))}]}  # fmt: skip
        ticket = Ticket(id=f"PRY-R-{uuid.uuid4().hex[:10]}", number=f"R{self.counter:04d}", at=at, lines=[returned],
                        tenders=[{"method": method, "amount": gross, "change": ZERO}], total=gross,
                        refund_of=original.id)  # fmt: skip
        self.tickets.append(ticket)
        data = {"id": ticket.id, "sale_id": original.id, "number": ticket.number, "occurred_at": at.isoformat(),
                "currency": self.currency, "prices_include_tax": True, "total": _amount(gross), "lines": [returned],
                "tenders": [{"method": method, "amount": _amount(gross)}], "reason": "Retour client",
                "restock": True, "location": self.location, "register": self.register}  # fmt: skip
        ticket.events.append(self._event("refund.completed", data))
        return ticket

    def open(self, cash_float: Decimal) -> None:
        """Open the drawer with a float."""
        self.cash_float = cash_float

    def count(self, at: datetime, counted: Decimal) -> dict[str, Any]:
        """Count the drawer at closing; the cash count event to send."""
        self.counted = counted
        data = {"id": f"COUNT-{self.register}-{at.date().isoformat()}", "number": f"Z{at:%Y%m%d}",
                "occurred_at": at.isoformat(), "currency": self.currency, "expected": _amount(self.expected_cash()),
                "counted": _amount(counted), "location": self.location, "register": self.register}  # fmt: skip
        return self._event("cash_count.completed", data)

    def _sale_data(self, ticket: Ticket) -> dict[str, Any]:
        return {
            "id": ticket.id, "number": ticket.number, "occurred_at": ticket.at.isoformat(),
            "currency": self.currency, "prices_include_tax": True, "total": _amount(ticket.total),
            "lines": ticket.lines, "location": self.location, "register": self.register,
            "tenders": [{"method": t["method"], "amount": _amount(t["amount"]),
                         **({"change": _amount(t["change"])} if t["change"] else {})} for t in ticket.tenders],
        }  # fmt: skip

    def _event(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"evt-{uuid.uuid4().hex}", "type": kind, "created_at": data.get("updated_at") or data["occurred_at"],
                "data": data}  # fmt: skip

    # -- webhooks ----------------------------------------------------------------------------

    def send(
        self,
        url: str,
        event: dict[str, Any] | bytes,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
    ) -> requests.Response:
        """POST one event signed as docs/generic-webhook.md says."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode("utf-8")
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {"Content-Type": "application/json", "User-Agent": "Prysm-POS-Webhook/1.0",
                   "X-Integrator-Timestamp": ts, "X-Integrator-Signature": sign(secret or self.secret, ts, body)}  # fmt: skip
        return requests.post(url, data=body, headers=headers, timeout=10)

    # -- the Z report ------------------------------------------------------------------------

    def day_tickets(self, day: date) -> list[Ticket]:
        """The day's tickets that count (voided ones left out)."""
        return [t for t in self.tickets if t.at.date() == day and not t.voided]

    def tender_totals(self, day: date) -> dict[str, Decimal]:
        """Per method: kept on sales less paid back on refunds, as the Z report prints it."""
        totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for t in self.day_tickets(day):
            for tender in t.tenders:
                totals[tender["method"]] += -tender["amount"] if t.refund_of else tender["amount"]
        return dict(totals)

    def expected_cash(self, day: date | None = None) -> Decimal:
        """Float plus the day's cash (of the last day rung up when ``day`` is None)."""
        day = day or self.tickets[-1].at.date()
        return self.cash_float + self.tender_totals(day).get("cash", ZERO)

    def z_rows(self, day: date, number: str) -> list[list[str]]:
        """The Z report's rows (without the header)."""
        sales: dict[str, Decimal] = defaultdict(lambda: ZERO)
        refunds: dict[str, Decimal] = defaultdict(lambda: ZERO)
        taken: dict[str, Decimal] = defaultdict(lambda: ZERO)
        paid_back: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for t in self.day_tickets(day):
            for line in t.lines:
                gross = (Decimal(line["unit_price"]) * line["quantity"]).quantize(self.exp)
                (refunds if t.refund_of else sales)[line["category"]] += gross
            for tender in t.tenders:
                (paid_back if t.refund_of else taken)[tender["method"]] += tender["amount"]
        when = day.strftime("%d/%m/%Y")
        pct = f"{(self.tax_rate * 100).normalize():f}"
        rows = []
        for section, table in (("Ventes", sales), ("Retours", refunds)):
            for category, gross in sorted(table.items()):
                rows.append(
                    [
                        number,
                        when,
                        self.register,
                        section,
                        category,
                        pct,
                        self._french(self._tax(gross)),
                        self._french(gross),
                    ]
                )
        for section, table in (("Paiement", taken), ("Remboursement paiement", paid_back)):
            for method, amount in sorted(table.items()):
                rows.append(
                    [
                        number,
                        when,
                        self.register,
                        section,
                        _PAYMENT_LABELS.get(method, method),
                        "",
                        "",
                        self._french(amount),
                    ]
                )
        rows.append(
            [number, when, self.register, "Caisse", "Fond de caisse", "", "", self._french(self.cash_float)]
        )
        rows.append(
            [
                number,
                when,
                self.register,
                "Caisse",
                "Théorique",
                "",
                "",
                self._french(self.expected_cash(day)),
            ]
        )
        if self.counted is not None:
            rows.append([number, when, self.register, "Caisse", "Compté", "", "", self._french(self.counted)])
        return rows

    def _french(self, value: Decimal) -> str:
        whole, _, frac = f"{value:f}".partition(".")
        sign = "-" if whole.startswith("-") else ""
        digits = whole.lstrip("-")
        grouped = " ".join(digits[max(0, i - 3) : i] for i in range(len(digits), 0, -3)[::-1])
        return f"{sign}{grouped}" + (f",{frac}" if frac else "")

    def z_report_csv(self, day: date, number: str) -> bytes:
        """The Z report as the till exports it: CSV, UTF-8 with a BOM, French headers."""
        out = io.StringIO()
        writer = csv.writer(out, delimiter=",", lineterminator="\r\n")
        writer.writerow(HEADERS)
        writer.writerows(self.z_rows(day, number))
        return ("\ufeff" + out.getvalue()).encode("utf-8")

    def z_report_xlsx(self, day: date, number: str) -> bytes:
        """The Z report as an XLSX sheet (numbers as numbers, the date as a date)."""
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(HEADERS)
        for row in self.z_rows(day, number):
            amount = Decimal(row[7].replace(" ", "").replace(",", "."))
            tax = Decimal(row[6].replace(" ", "").replace(",", ".")) if row[6] else None
            sheet.append([row[0], datetime.combine(day, datetime.min.time()), row[2], row[3], row[4],
                          int(row[5]) if row[5] else None, int(tax) if tax is not None else None, int(amount)])  # fmt: skip
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()

    @staticmethod
    def column_mapping() -> dict[str, Any]:
        """The column mapping a clerk saves for this till's files."""
        return {
            "columns": {"report_number": "N° Z", "date": "Date", "register": "Caisse", "section": "Rubrique",
                        "name": "Libellé", "tax_rate": "Taux TVA", "tax": "TVA", "amount": "Montant"},
            "date_format": "%d/%m/%Y", "decimal_comma": True, "tax_label": "TVA",
        }  # fmt: skip
