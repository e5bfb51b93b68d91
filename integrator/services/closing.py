"""Daily batch closure: one summary entry per channel-day and currency (A2X style).

In ``daily_summary`` mode every transaction is still journaled on its own (our ledger of intent,
with the mapping rule of each line), but only the day's summary is posted: lines are added up per
account, role and tax code. Reversals of already-summarised entries join the next summary, so a
summary that reached the ledger is never edited.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q

from integrator.choices import EntryKind, PostingMode
from integrator.models import Channel, JournalEntry, JournalLine
from integrator.services import audit
from integrator.services.journal import create_entry
from integrator.services.posting import create_posting
from reconciliation.services.settling import DAY_CLOSED, settle_exceptions

__all__ = ["close_day", "close_past_days"]

ZERO = Decimal(0)
#: The entries a daily summary carries: transactions' entries and their reversals, and the manual
#: entries made for a transaction (its cost of goods sold, issue 12).
SUMMARISED = Q(kind__in=[EntryKind.TRANSACTION, EntryKind.REVERSAL]) | Q(
    kind=EntryKind.MANUAL, transaction__isnull=False
)


def close_day(channel: Channel, day: date, *, actor: Any = None) -> list[JournalEntry]:
    """Summarise the channel's unsummarised entries dated ``day`` (idempotent: a second run finds
    nothing left to summarise). Returns the summary entries made, one per currency."""
    if channel.posting_mode != PostingMode.DAILY_SUMMARY:
        raise ValueError(f"{channel.name} posts per transaction; there is no daily summary to close")
    made: list[JournalEntry] = []
    with transaction.atomic():
        Channel.objects.select_for_update().get(pk=channel.pk)  # one closer per channel at a time
        pending = (
            JournalEntry.objects.filter(channel=channel, date=day, summary__isnull=True)
            .filter(SUMMARISED)
            .filter(Q(kind=EntryKind.REVERSAL) | Q(superseded=False))
        )
        # One summary per currency and, for tills, per location and register.
        groups: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
        for entry_id, currency, location, register in pending.values_list(
            "pk", "currency", "location", "register"
        ):
            groups[(currency, location, register)].append(entry_id)
        functional = channel.ledger_connection.functional_currency if channel.ledger_connection else currency
        for (currency, location, register), entry_ids in sorted(groups.items()):
            sums: dict[tuple[Any, ...], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
            for ln in JournalLine.objects.filter(entry_id__in=entry_ids).values(
                "account_id", "role", "tax_code_id", "tax_rate", "currency", "debit", "credit",
                "functional_debit", "functional_credit",
            ):  # fmt: skip
                key = (ln["account_id"], ln["role"], ln["tax_code_id"], ln["tax_rate"], ln["currency"])
                sums[key][0] += ln["debit"] - ln["credit"]
                sums[key][1] += ln["functional_debit"] - ln["functional_credit"]
            specs = []
            for (account_id, role, tax_code_id, tax_rate, line_currency), (amount, amount_fn) in sorted(
                sums.items(), key=str
            ):
                if amount == 0 and amount_fn == 0:
                    continue
                spec: dict[str, Any] = {
                    "amount": amount, "account_id": account_id, "role": role, "tax_code_id": tax_code_id,
                    "tax_rate": tax_rate, "description": f"{role} {day}", "currency": line_currency,
                    "functional": amount_fn, "rate": abs(amount_fn / amount) if amount else None,
                }  # fmt: skip
                if amount == 0:
                    # Entries of the day booked at different rates leave a functional remainder alone:
                    # it is carried as a line in the functional currency.
                    spec.update(amount=amount_fn, currency=functional, rate=Decimal(1))
                specs.append(spec)
            rates = set(
                JournalEntry.objects.filter(pk__in=entry_ids).values_list(
                    "exchange_rate", "rate_source", "rate_provider", "rate_date"
                )
            )
            summary_rate = (
                next(iter(rates)) if len(rates) == 1 else (_weighted_rate(specs, currency), "mixed", "", None)
            )
            seq = JournalEntry.objects.filter(
                channel=channel,
                kind=EntryKind.SUMMARY,
                date=day,
                currency=currency,
                location=location,
                register=register,
            ).count()
            till = "/".join(part for part in (location, register) if part)
            reference = (
                f"{channel.slug}/summary/{day.isoformat()}/{currency}"
                + (f"/{till}" if till else "")
                + (f"/{seq + 1}" if seq else "")
            )
            summary = create_entry(
                line_specs=specs,
                reference=reference,
                date=day,
                currency=currency,
                memo=f"{channel.name} daily summary {day}"
                + (f" {till}" if till else "")
                + f" ({len(entry_ids)} entries)",
                channel_id=channel.pk,
                connection_id=channel.ledger_connection_id,
                kind=EntryKind.SUMMARY,
                location=location,
                register=register,
                number=_summary_number(channel, day, currency, till, seq),
                functional_currency=functional,
                exchange_rate=summary_rate[0],
                rate_source=summary_rate[1] or "",
                rate_provider=summary_rate[2] or "",
                rate_date=summary_rate[3],
            )
            JournalEntry.objects.filter(pk__in=entry_ids).update(summary=summary)
            settle_exceptions(summary, event=DAY_CLOSED)
            if specs:
                create_posting(summary)
            audit.record(
                "day.closed",
                obj=summary,
                after={
                    "channel": channel.slug,
                    "day": day,
                    "currency": currency,
                    "location": location,
                    "register": register,
                    "entries": len(entry_ids),
                },
                actor=actor,
            )
            made.append(summary)
    return made


def _weighted_rate(specs: list[dict[str, Any]], currency: str) -> Decimal | None:
    """The average rate of a summary whose entries were booked at different rates (functional over
    document amounts of its lines in the summary's currency)."""
    lines = [s for s in specs if s["currency"] == currency and s["amount"]]
    amount = sum((abs(s["amount"]) for s in lines), ZERO)
    functional = sum((abs(s["functional"]) for s in lines), ZERO)
    return (functional / amount).quantize(Decimal("0.000000000001")) if amount else None


def _summary_number(channel: Channel, day: date, currency: str, till: str, seq: int) -> str:
    """The number a daily summary shows in the ledger: the channel's prefix (``document_prefix``,
    else its slug in capitals) and the day, then the till, a foreign currency and a sequence."""
    prefix = str((channel.settings or {}).get("document_prefix") or channel.slug.upper())
    parts = [f"{prefix.rstrip('-')}-{day:%Y%m%d}"]
    if till:
        parts.append(till.replace("/", "-"))
    if currency != channel.currency:
        parts.append(currency)
    if seq:
        parts.append(str(seq + 1))
    return "-".join(parts)


def close_past_days(*, actor: Any = None) -> int:
    """Close every past day with unsummarised entries, for every daily-summary channel.

    Run by the scheduler (a scheduled singleton: ``close_day`` locks the channel row). Today is
    never closed: sales are still coming in.
    """
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    made = 0
    for channel in Channel.objects.filter(posting_mode=PostingMode.DAILY_SUMMARY, active=True):
        today = timezone.now().astimezone(ZoneInfo(channel.timezone or "UTC")).date()
        days = (
            JournalEntry.objects.filter(
                channel=channel, summary__isnull=True, date__lt=today,
            ).filter(SUMMARISED)
            .values_list("date", flat=True)
            .distinct()
        )  # fmt: skip
        for day in sorted(set(days)):
            made += len(close_day(channel, day, actor=actor))
    return made
