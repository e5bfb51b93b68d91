"""Exchange rates: which rate converts a document into the books' functional currency.

Order of precedence (per connection, ``settings["rate_precedence"]``, default below), documented
in docs/accounting-model.md:

1. ``source`` - the rate the sales system itself applied and stated on the document (Stripe's
   balance transaction ``exchange_rate``, Shopify's shop vs presentment money, PayPal's receivable
   breakdown);
2. ``ledger`` - the ledger's own rate for the day (QuickBooks ``exchangerate``), fetched and kept
   per connection;
3. ``reference`` - the daily reference table: the ECB's euro reference rates (imported from their
   XML or CSV files, or fetched on a schedule from ``REFERENCE_RATES_URL``), the fixed pegs
   (XOF and XAF at 655.957 per EUR, ...) and crosses through the euro;
4. ``manual`` - a rate a person entered (audited).

A rate is never guessed: with none of these, the transaction is held as *needs rate* with the
reason, and flows once a rate exists (:func:`release_rate_held`). Rates are looked up on the
transaction's business day, or the latest day before it within ``MAX_RATE_AGE_DAYS`` (reference
tables skip weekends and holidays).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from integrator import canonical, money
from integrator.choices import RateSource, TransactionStatus
from integrator.models import ExchangeRate, LedgerConnection, Transaction
from integrator.services import audit

__all__ = [
    "DEFAULT_PRECEDENCE",
    "MAX_RATE_AGE_DAYS",
    "PEGS",
    "NeedsRate",
    "RateQuote",
    "fetch_ledger_rate",
    "fetch_reference_rates",
    "import_reference_rates",
    "parse_reference_rates",
    "record_rate",
    "release_rate_held",
    "resolve_rate",
]

log = logging.getLogger(__name__)

DEFAULT_PRECEDENCE = (RateSource.SOURCE, RateSource.LEDGER, RateSource.REFERENCE, RateSource.MANUAL)
MAX_RATE_AGE_DAYS = 7
RATE_PLACES = Decimal("0.000000000001")
# Currencies fixed to the euro by treaty: units per EUR.
PEGS: dict[str, Decimal] = {
    "XOF": Decimal("655.957"),
    "XAF": Decimal("655.957"),
    "KMF": Decimal("491.96775"),
    "CVE": Decimal("110.265"),
    "BAM": Decimal("1.95583"),
}


class NeedsRate(Exception):
    """No usable rate: ``reason`` says which conversion is missing, in words for a clerk."""

    def __init__(self, reason: str, *, currency: str, day: date) -> None:
        super().__init__(reason)
        self.reason = reason
        self.currency = currency
        self.day = day


@dataclass(frozen=True)
class RateQuote:
    """A usable rate: functional units per document unit, its origin and its day."""

    rate: Decimal
    source: str
    provider: str
    day: date

    def convert(self, amount: Decimal, functional_currency: str) -> Decimal:
        """``amount`` in the functional currency, rounded to its minor unit."""
        return money.quantize(amount * self.rate, functional_currency)


def _q(rate: Decimal) -> Decimal:
    return rate.quantize(RATE_PLACES)


def precedence(connection: LedgerConnection | None) -> tuple[str, ...]:
    """The connection's order of precedence (unknown names are ignored)."""
    configured = (connection.settings or {}).get("rate_precedence") if connection is not None else None
    if not configured:
        return tuple(DEFAULT_PRECEDENCE)
    valid = set(RateSource.values)
    return tuple(s for s in configured if s in valid and s != RateSource.IDENTITY)


# --------------------------------------------------------------------------------------------
# Looking rates up
# --------------------------------------------------------------------------------------------


def _table(base: str, quote: str, day: date, source: str, connection: Any = None) -> RateQuote | None:
    """The latest stored rate base->quote (or the inverse) on or before ``day``."""
    window = (day - timedelta(days=MAX_RATE_AGE_DAYS), day)
    rows = ExchangeRate.objects.filter(
        Q(base=base, quote=quote) | Q(base=quote, quote=base), source=source, day__range=window
    )
    rows = (
        rows.filter(connection=connection) if connection is not None else rows.filter(connection__isnull=True)
    )
    row = rows.order_by("-day", "-created_at").first()
    if row is None:
        return None
    rate = row.rate if row.base == base else Decimal(1) / row.rate
    return RateQuote(_q(rate), source, row.provider or source, row.day)


def _per_euro(currency: str, day: date) -> tuple[Decimal, date, str] | None:
    """Units of ``currency`` per EUR on ``day``: 1 for the euro, a peg, or the ECB's rate."""
    if currency == "EUR":
        return Decimal(1), day, "EUR"
    if currency in PEGS:
        return PEGS[currency], day, f"fixed peg {PEGS[currency]} per EUR"
    found = _table("EUR", currency, day, RateSource.REFERENCE)
    return (found.rate, found.day, found.provider) if found else None


def _reference(base: str, quote: str, day: date) -> RateQuote | None:
    """base->quote through the euro (both legs from the reference table or the pegs)."""
    per_base, per_quote = _per_euro(base, day), _per_euro(quote, day)
    if per_base is None or per_quote is None:
        return None
    rate = per_quote[0] / per_base[0]
    providers = " / ".join(p for p in (per_base[2], per_quote[2]) if p != "EUR")
    return RateQuote(_q(rate), RateSource.REFERENCE, providers or "EUR", min(per_base[1], per_quote[1]))


def _stated(stated: Sequence[canonical.ExchangeRate], base: str, quote: str) -> Decimal | None:
    """A rate the source stated for base->quote, directly or inverted."""
    for rate in stated:
        if rate.rate <= 0:
            continue
        if rate.base.upper() == base and rate.quote.upper() == quote:
            return rate.rate
        if rate.base.upper() == quote and rate.quote.upper() == base:
            return Decimal(1) / rate.rate
    return None


def resolve_rate(
    currency: str,
    functional: str,
    day: date,
    *,
    connection: LedgerConnection | None = None,
    stated: Sequence[canonical.ExchangeRate] = (),
    channel_currency: str = "",
) -> RateQuote:
    """The rate that converts ``currency`` into ``functional`` on ``day`` (see the module docstring).

    A document in a currency other than its channel's needs the source's own rate to the channel
    currency (or straight to the functional one): without it, it is held. Raises :class:`NeedsRate`.
    """
    currency, functional = currency.upper(), functional.upper()
    if currency == functional:
        return RateQuote(Decimal(1), RateSource.IDENTITY, "", day)
    order = precedence(connection)
    direct = _stated(stated, currency, functional)
    if RateSource.SOURCE in order and direct is not None:
        return RateQuote(_q(direct), RateSource.SOURCE, "source", day)
    if channel_currency and channel_currency.upper() != currency:
        hop = _stated(stated, currency, channel_currency.upper())
        if hop is None:
            raise NeedsRate(
                f"the document is in {currency} but the channel sells in {channel_currency}, and the sales "
                f"system stated no {currency}/{channel_currency} rate",
                currency=currency,
                day=day,
            )
        onward = resolve_rate(channel_currency, functional, day, connection=connection, stated=stated)
        return RateQuote(_q(hop * onward.rate), RateSource.SOURCE, f"source x {onward.source}", onward.day)
    for source in order:
        quote: RateQuote | None = None
        if source == RateSource.LEDGER and connection is not None:
            quote = _table(currency, functional, day, RateSource.LEDGER, connection)
        elif source == RateSource.REFERENCE:
            quote = _reference(currency, functional, day)
        elif source == RateSource.MANUAL:
            quote = _table(currency, functional, day, RateSource.MANUAL) or _manual_cross(
                currency, functional, day
            )
        if quote is not None:
            return quote
    tried = ", ".join(RateSource(s).label.lower() for s in order)
    raise NeedsRate(
        f"no {currency}/{functional} rate on or up to {MAX_RATE_AGE_DAYS} days before {day} ({tried}): "
        "import the reference rates or enter one",
        currency=currency,
        day=day,
    )


def _manual_cross(base: str, quote: str, day: date) -> RateQuote | None:
    """A manual rate through the euro (a person entered EUR->X rates)."""
    legs = []
    for currency in (base, quote):
        if currency == "EUR":
            legs.append(Decimal(1))
            continue
        found = _table("EUR", currency, day, RateSource.MANUAL)
        if found is None:
            return None
        legs.append(found.rate)
    return RateQuote(_q(legs[1] / legs[0]), RateSource.MANUAL, "manual via EUR", day)


# --------------------------------------------------------------------------------------------
# Storing rates
# --------------------------------------------------------------------------------------------


def record_rate(
    base: str,
    quote: str,
    day: date,
    rate: Decimal,
    *,
    source: str,
    provider: str = "",
    connection: LedgerConnection | None = None,
    actor: Any = None,
    note: str = "",
) -> tuple[ExchangeRate, bool]:
    """Store one rate (idempotent: the same rate again changes nothing; a manual rate may be
    corrected, audited with before and after). Releases transactions waiting for it on commit."""
    base, quote = base.upper(), quote.upper()
    if not (money.is_known_currency(base) and money.is_known_currency(quote)) or base == quote:
        raise ValueError(f"{base}/{quote} is not a currency pair")
    if rate <= 0:
        raise ValueError("a rate must be greater than zero")
    with transaction.atomic():
        existing = (
            ExchangeRate.objects.select_for_update()
            .filter(base=base, quote=quote, day=day, source=source, connection=connection)
            .first()
        )
        if existing is not None and existing.rate == _q(rate):
            return existing, False
        if existing is not None:
            before = {"rate": str(existing.rate)}
            existing.rate, existing.provider, existing.note = _q(rate), provider, note
            existing.created_by = actor if getattr(actor, "is_authenticated", False) else existing.created_by
            existing.save(update_fields=["rate", "provider", "note", "created_by"])
            audit.record(
                "rate.changed", obj=existing, before=before, after={"rate": str(existing.rate)}, actor=actor
            )
            row, created = existing, False
        else:
            try:
                with transaction.atomic():
                    row = ExchangeRate.objects.create(
                        base=base, quote=quote, day=day, rate=_q(rate), source=source, provider=provider,
                        connection=connection, note=note,
                        created_by=actor if getattr(actor, "is_authenticated", False) else None,
                    )  # fmt: skip
            except IntegrityError:
                return ExchangeRate.objects.get(
                    base=base, quote=quote, day=day, source=source, connection=connection
                ), False
            created = True
            if source == RateSource.MANUAL:
                audit.record("rate.entered", obj=row, after={"pair": f"{base}/{quote}", "day": day,
                                                              "rate": str(row.rate), "note": note}, actor=actor)  # fmt: skip
        transaction.on_commit(lambda: release_rate_held())
    return row, created


def _parse_rate(text: str) -> Decimal | None:
    text = (text or "").strip()
    if not text or text.upper() in ("N/A", "NA", "-"):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value > 0 else None


def _parse_ecb_date(text: str) -> date:
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%d %B %Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not an ECB date: {text!r}")


def parse_reference_rates(content: bytes) -> list[tuple[date, str, Decimal]]:
    """(day, currency, units per EUR) from the ECB's euro reference rates, in their XML
    (``eurofxref-daily.xml``, ``eurofxref-hist.xml``) or CSV (``eurofxref.csv``,
    ``eurofxref-hist.csv``) form. Raises ValueError for anything else."""
    text = content.lstrip(b"\xef\xbb\xbf")
    if text.lstrip().startswith(b"<"):
        from defusedxml import ElementTree

        root = ElementTree.fromstring(text)
        rows = []
        for node in root.iter():
            if node.tag.endswith("Cube") and node.get("time"):
                day = _parse_ecb_date(node.get("time") or "")
                for child in node:
                    rate = _parse_rate(child.get("rate") or "")
                    currency = (child.get("currency") or "").upper()
                    if rate is not None and money.is_known_currency(currency):
                        rows.append((day, currency, rate))
        if not rows:
            raise ValueError("the XML holds no ECB reference rates (Cube time=... currency=... rate=...)")
        return rows
    reader = csv.reader(io.StringIO(text.decode("utf-8")))
    header = [h.strip().upper() for h in next(reader, [])]
    if not header or header[0] != "DATE":
        raise ValueError("the CSV does not start with the ECB's 'Date' column")
    rows = []
    for line in reader:
        if not line or not line[0].strip():
            continue
        day = _parse_ecb_date(line[0])
        for currency, value in zip(header[1:], line[1:], strict=False):
            rate = _parse_rate(value)
            if rate is not None and money.is_known_currency(currency):
                rows.append((day, currency, rate))
    if not rows:
        raise ValueError("the CSV holds no rates")
    return rows


def import_reference_rates(content: bytes, *, actor: Any = None, provider: str = "ECB") -> dict[str, int]:
    """Store the ECB's euro reference rates from an XML or CSV file (idempotent: a day already
    held keeps its rate), audited once; transactions waiting for a rate are released on commit."""
    rows = parse_reference_rates(content)
    days = sorted({d for d, _, _ in rows})
    with transaction.atomic():
        before = ExchangeRate.objects.filter(source=RateSource.REFERENCE, connection__isnull=True).count()
        ExchangeRate.objects.bulk_create(
            [
                ExchangeRate(
                    base="EUR",
                    quote=currency,
                    day=day,
                    rate=_q(rate),
                    source=RateSource.REFERENCE,
                    provider=provider[:60],
                )
                for day, currency, rate in rows
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        created = (
            ExchangeRate.objects.filter(source=RateSource.REFERENCE, connection__isnull=True).count() - before
        )
        audit.record(
            "rates.imported",
            object_type="integrator.ExchangeRate",
            after={
                "provider": provider,
                "rates": len(rows),
                "new": created,
                "first_day": days[0],
                "last_day": days[-1],
            },
            actor=actor,
            actor_label="" if actor else "scheduler",
        )
        if created:
            transaction.on_commit(lambda: release_rate_held())
    return {"rates": len(rows), "new": created, "unchanged": len(rows) - created, "days": len(days)}


def release_rate_held(*, currencies: Iterable[str] | None = None) -> int:
    """Re-journal transactions held for want of a rate (after a rate was stored)."""
    from integrator.services.pipeline import advance_transaction

    held = Transaction.objects.filter(status=TransactionStatus.NEEDS_RATE)
    if currencies is not None:
        held = held.filter(currency__in=list(currencies))
    count = 0
    # A list, not a server-side cursor: booking a transaction may enqueue work that closes
    # connections (the inline cluster of tests), which would end an open cursor's fetch.
    for pk in list(held.values_list("pk", flat=True)):
        if Transaction.objects.filter(pk=pk, status=TransactionStatus.NEEDS_RATE).update(
            status=TransactionStatus.RECEIVED
        ):
            advance_transaction(pk)
            count += 1
    return count


def fetch_ledger_rate(connection_id: Any, currency: str, day: date) -> bool:
    """Ask the ledger for its own rate (outside any transaction) and keep it for the connection.
    Returns True when the ledger had one."""
    from integrator.services.posting import ledger_target_for

    connection = LedgerConnection.objects.get(pk=connection_id)
    target = ledger_target_for(connection)
    if "exchange_rates" not in type(target).capabilities:
        return False
    from connectors.base import ConnectorError

    try:
        rate = target.fetch_exchange_rate(currency, day)
    except ConnectorError as exc:
        log.warning("ledger %s gave no %s rate for %s: %s", connection.name, currency, day, exc)
        return False
    if rate is None:
        return False
    record_rate(currency, connection.functional_currency, day, rate, source=RateSource.LEDGER,
                provider=connection.name[:60], connection=connection)  # fmt: skip
    return True


def fetch_reference_rates() -> dict[str, int] | None:
    """Fetch the reference rates from ``settings.REFERENCE_RATES_URL`` when one is configured
    (scheduled daily); None when none is."""
    import requests
    from django.conf import settings

    url = getattr(settings, "REFERENCE_RATES_URL", "")
    if not url:
        return None
    response = requests.get(url, timeout=30)
    response.raise_for_status()
    return import_reference_rates(response.content, provider="ECB")
