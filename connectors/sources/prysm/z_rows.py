"""The rows of a Z report file: the column mapping, the cell readers and the import-export
resource that checks each row (see :mod:`connectors.sources.prysm.z_report` for the fields)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from import_export import fields, resources, widgets
from import_export.instance_loaders import BaseInstanceLoader

from integrator import money

__all__ = [
    "FIELDS",
    "REQUIRED",
    "SECTIONS",
    "ZReportMapping",
    "ZReportResource",
    "ZRow",
    "ZRowError",
    "method_name",
]

ZERO = Decimal(0)
FIELDS = (
    "report_number", "date", "section", "amount", "name", "tax_rate", "tax", "tax_name",
    "register", "location", "currency",
)  # fmt: skip
REQUIRED = ("report_number", "date", "section", "amount")
SECTIONS = ("sale", "refund", "tender", "refund_tender", "tip", "cash")
_SECTION_WORDS = {
    "sale": ("sale", "sales", "vente", "ventes", "category", "categorie", "catégorie"),
    "refund": ("refund", "refunds", "return", "returns", "retour", "retours", "remboursement"),
    "tender": ("tender", "tenders", "payment", "payments", "paiement", "paiements", "encaissement", "reglement", "règlement"),
    "refund_tender": ("refund_tender", "refund tender", "refund tenders", "refund payment", "refund payments",
                      "remboursement paiement", "paid out", "payout"),
    "tip": ("tip", "tips", "pourboire", "pourboires", "gratuity"),
    "cash": ("cash", "drawer", "caisse", "cash drawer", "fond de caisse"),
}  # fmt: skip
_CASH_NAMES = {
    "expected": ("expected", "theoretical", "theorique", "théorique", "attendu", "expected cash"),
    "counted": ("counted", "actual", "compte", "compté", "counted cash", "reel", "réel"),
    "opening_float": ("float", "opening float", "fond", "fond de caisse", "fonds de caisse"),
    "float_change": (
        "float_change",
        "float change",
        "float in/out",
        "apport",
        "retrait",
        "mouvement de caisse",
    ),
}
_METHODS = {
    "cash": ("cash", "especes", "espèces", "liquide", "cash payment"),
    "card": ("card", "carte", "credit card", "debit card", "carte bancaire", "cb", "visa", "mastercard"),
    "mpesa": ("m-pesa", "mpesa", "m pesa"),
    "orange_money": ("orange money", "orange-money", "om"),
    "mtn_momo": ("mtn momo", "mtn mobile money", "momo"),
    "wave": ("wave",),
    "airtel_money": ("airtel money",),
    "gift_card": ("gift card", "carte cadeau", "voucher"),
}


def _lookup(words: Mapping[str, Iterable[str]]) -> dict[str, str]:
    return {w: key for key, ws in words.items() for w in ws}


_SECTION_OF = _lookup(_SECTION_WORDS)
_CASH_OF = _lookup(_CASH_NAMES)
_METHOD_OF = _lookup(_METHODS)


def method_name(value: str) -> str:
    """A tender's method name as clearing rules match it (``Orange Money`` -> ``orange_money``)."""
    lowered = value.strip().lower()
    return _METHOD_OF.get(lowered) or re.sub(r"[^a-z0-9]+", "_", lowered).strip("_") or "other"


# -- the mapping ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZReportMapping:
    """How one till's Z report file is laid out: our field -> its column header, and how it
    writes dates and decimals."""

    columns: Mapping[str, str] = field(default_factory=lambda: {f: f for f in FIELDS})
    date_format: str = "%Y-%m-%d"
    decimal_comma: bool = False
    tax_label: str = "Tax"

    @classmethod
    def from_settings(cls, raw: Any) -> ZReportMapping:
        """The mapping saved on a channel (``settings["z_report"]``), or the default one."""
        if not isinstance(raw, Mapping):
            return cls()
        given = raw.get("columns")
        columns: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        return cls(
            columns={k: str(v) for k, v in columns.items() if k in FIELDS and str(v).strip()}
            or {f: f for f in FIELDS},
            date_format=str(raw.get("date_format") or "%Y-%m-%d"),
            decimal_comma=bool(raw.get("decimal_comma", False)),
            tax_label=str(raw.get("tax_label") or "Tax"),
        )

    def as_settings(self) -> dict[str, Any]:
        """The mapping as JSON for the channel's settings."""
        return {"columns": dict(self.columns), "date_format": self.date_format,
                "decimal_comma": self.decimal_comma, "tax_label": self.tax_label}  # fmt: skip

    def problems(self) -> list[str]:
        """What is wrong with the mapping itself, in words."""
        out = [f"no column is given for {f.replace('_', ' ')}" for f in REQUIRED if not self.columns.get(f)]
        unknown = sorted(set(self.columns) - set(FIELDS))
        if unknown:
            out.append(f"unknown fields: {', '.join(unknown)}")
        headers = [h.strip().lower() for h in self.columns.values()]
        if len(set(headers)) != len(headers):
            out.append("one column is mapped to two fields")
        try:
            datetime(2026, 1, 31).strftime(self.date_format)
            datetime.strptime(datetime(2026, 1, 31).strftime(self.date_format), self.date_format)
        except ValueError:
            out.append(f"the date format {self.date_format!r} cannot be read back")
        return out


# -- widgets: cells to values, with the words a finance clerk reads -----------------------------


class _Text(widgets.Widget):
    """A trimmed string ('' for an empty cell)."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        """The cell as text."""
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))  # a report number typed as 42 in a spreadsheet
        return str(value).strip()


class _Number(widgets.Widget):
    """An exact Decimal from a cell: text (``1 234,50`` with a decimal comma, ``1,234.50``
    without), an integer, or a spreadsheet number (read through its shortest decimal spelling)."""

    def __init__(self, decimal_comma: bool) -> None:
        super().__init__()
        self.decimal_comma = decimal_comma

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        """The cell as a Decimal, None when empty; ValueError when it is not a number."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a number")
        if isinstance(value, int | Decimal):
            return Decimal(value)
        if isinstance(value, float):
            return Decimal(repr(value))
        text = re.sub(r"[\s\u00a0\u202f']", "", str(value))
        text = text.replace(".", "").replace(",", ".") if self.decimal_comma else text.replace(",", "")
        percent = text.endswith("%")
        try:
            number = Decimal(text.rstrip("%"))
        except InvalidOperation:
            raise ValueError(f"{str(value).strip()!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{str(value).strip()!r} is not a number")
        return number / 100 if percent else number


class _Day(widgets.Widget):
    """A date from a spreadsheet date, or text in the mapping's format (ISO always works)."""

    def __init__(self, fmt: str) -> None:
        super().__init__()
        self.fmt = fmt

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        """The cell as a date, None when empty; ValueError when it is not one."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        text = str(value).strip()
        for fmt in (self.fmt, "%Y-%m-%d"):
            try:
                return datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        raise ValueError(f"{text!r} is not a date like {datetime(2026, 11, 20).strftime(self.fmt)}")


# -- the resource --------------------------------------------------------------------------------


@dataclass
class ZRow:
    """One row of the file as read (the resource's "instance")."""

    report_number: str = ""
    date: date | None = None
    section: str = ""
    amount: Decimal | None = None
    name: str = ""
    tax_rate: Decimal | None = None
    tax: Decimal | None = None
    tax_name: str = ""
    register: str = ""
    location: str = ""
    currency: str = ""


@dataclass(frozen=True)
class ZRowError:
    """One problem: the row number (1 = the first row under the header; 0 for the file as a
    whole) and what is wrong, in words."""

    row: int
    messages: tuple[str, ...]
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def line(self) -> int:
        """The line in the file (the header is line 1)."""
        return self.row + 1 if self.row else 0


class ZReportResource(resources.Resource):
    """Reads and checks the rows of one Z report file (django-import-export, never saved: the
    checked rows are collected in :attr:`rows` and stored as inbox events by the caller)."""

    class Meta:
        instance_loader_class = BaseInstanceLoader
        force_init_instance = True
        skip_diff = True
        use_transactions = False
        using_db = "default"
        report_skipped = True

    def __init__(
        self, mapping: ZReportMapping, *, currency: str, register: str = "", location: str = ""
    ) -> None:
        super().__init__()
        self.mapping = mapping
        self.currency = currency
        self.default_register = register
        self.default_location = location
        number = _Number(mapping.decimal_comma)
        kinds: dict[str, widgets.Widget] = {"date": _Day(mapping.date_format), "amount": number,
                                            "tax_rate": number, "tax": number}  # fmt: skip
        self.fields = {
            name: fields.Field(attribute=name, column_name=header, widget=kinds.get(name, _Text()))
            for name, header in mapping.columns.items()
        }
        self.rows: list[tuple[int, ZRow]] = []

    def init_instance(self, row: Any = None) -> ZRow:
        """A fresh row."""
        return ZRow()

    def get_instance(self, instance_loader: Any, row: Any) -> None:
        """Rows are never matched to stored objects."""
        return None

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        """Every mapped column must be in the file (headers compared without case or spaces)."""
        present = {str(h or "").strip().lower(): str(h) for h in dataset.headers or []}
        missing = []
        for name, f in self.fields.items():
            header = f.column_name.strip().lower()
            if header in present:
                f.column_name = present[header]
            elif name in REQUIRED:
                missing.append(f"{f.column_name!r} (the {name.replace('_', ' ')})")
            else:
                f.attribute = None  # an optional column this file does not have
        if missing:
            raise ValueError(f"the file has no column {', '.join(missing)}")
        self.rows = []

    def import_field(self, field: Any, instance: Any, row: Any, is_m2m: bool = False, **kwargs: Any) -> None:
        """Read one cell (a field whose column the file lacks stays at its default)."""
        if field.attribute:
            super().import_field(field, instance, row, is_m2m, **kwargs)

    def validate_instance(
        self, instance: ZRow, import_validation_errors: Any = None, validate_unique: bool = True
    ) -> None:
        """A row on its own: required cells, a known section, exact amounts, a sensible rate."""
        errors: dict[str, list[str]] = {
            k: list(ValidationError(v).messages) for k, v in (import_validation_errors or {}).items()
        }

        def add(name: str, message: str) -> None:
            errors.setdefault(name, []).append(message)

        for name in REQUIRED:
            if name not in errors and getattr(instance, name) in (None, ""):
                add(name, f"the {name.replace('_', ' ')} is missing")
        if instance.section and "section" not in errors:
            section = _SECTION_OF.get(instance.section.strip().lower().replace("-", " "))
            section = section or _SECTION_OF.get(instance.section.strip().lower())
            if section is None:
                add("section", f"{instance.section!r} is not a section ({', '.join(SECTIONS)})")
            else:
                instance.section = section
        currency = instance.currency or self.currency
        try:
            instance.currency = money.normalize_currency(currency)
        except money.UnknownCurrency:
            add("currency", f"{currency!r} is not a currency code")
        if "currency" not in errors:
            for name in ("amount", "tax"):
                value = getattr(instance, name)
                if value is not None and name not in errors:
                    try:
                        setattr(instance, name, money.parse_amount(value, instance.currency))
                    except money.InvalidAmount:
                        add(name, f"{value} has more decimals than {instance.currency} allows")
        rate = instance.tax_rate
        if rate is not None and "tax_rate" not in errors:
            rate = rate / 100 if rate >= 1 else rate
            if not ZERO <= rate < 1:
                add("tax_rate", f"{instance.tax_rate} is not a tax rate")
            instance.tax_rate = rate.normalize() if rate else ZERO
        if instance.section in ("sale", "refund"):
            if instance.amount is not None and instance.amount < 0:
                add("amount", "a sales or refund amount cannot be negative (put refunds in refund rows)")
            if instance.tax and instance.amount is not None and abs(instance.tax) > abs(instance.amount):
                add("tax", f"the tax {instance.tax} is more than the amount {instance.amount}")
        if instance.section == "cash" and "section" not in errors:
            kind = _CASH_OF.get(instance.name.strip().lower())
            if kind is None:
                add(
                    "name",
                    f"a cash row names expected, counted, opening_float or float_change, not {instance.name!r}",
                )
            else:
                instance.name = kind
        if instance.section in ("tender", "refund_tender") and not instance.name:
            add("name", "a tender row needs the payment method in its name column")
        instance.register = instance.register or self.default_register
        instance.location = instance.location or self.default_location
        if errors:
            raise ValidationError(errors)

    def save_instance(self, instance: ZRow, is_create: bool, row: Any, **kwargs: Any) -> None:
        """Collect the checked row (nothing is written to the database here)."""
        self.rows.append((int(kwargs.get("row_number") or 0), instance))

    def save_m2m(self, instance: Any, row: Any, **kwargs: Any) -> None:
        """No relations."""
