"""Unrealised exchange differences: month-end revaluation of open foreign-currency balances.

At a period end, every monetary account that holds a balance in a currency other than the books'
(receivables, gateway and till clearing, bank, gift cards and tips owed, tax owed) is restated at
the period-end rate: the difference between the functional value it was booked at and its value at
that rate goes to the mapped unrealised FX account (RuleKind.FX_UNREALISED), per channel, in one
``revaluation`` entry dated the period end. The next day an automatic reversal takes it back out,
so settlements keep relieving balances at the value they were booked at and realised FX stays
exact (docs/accounting-model.md, "Exchange rates").

Revaluations post to the built-in ledger. External ledgers revalue on their own (QuickBooks'
"Revalue currency", Xero's unrealised gains report), so their connections post ours only when
``settings["post_revaluations"]`` is true; the entries stay in our journal either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum

from integrator import money
from integrator.choices import EntryKind, RuleKind
from integrator.models import Channel, JournalEntry, JournalLine, LedgerConnection, MappingRule
from integrator.services import audit
from integrator.services.journal import create_entry, reversal_specs
from integrator.services.mappings import RuleBook, version_in_force
from integrator.services.posting import create_posting
from integrator.services.rates import NeedsRate, resolve_rate

__all__ = [
    "MONETARY_RULE_KINDS",
    "Revaluation",
    "month_ends_due",
    "revalue",
    "revalue_connection",
    "revalue_past_month_ends",
]

ZERO = Decimal(0)
#: The rule kinds whose accounts hold money (or money owed): their foreign balances are revalued.
MONETARY_RULE_KINDS = (
    RuleKind.RECEIVABLE,
    RuleKind.CLEARING,
    RuleKind.BANK,
    RuleKind.GIFT_CARD,
    RuleKind.TIP,
    RuleKind.TAX,
)


@dataclass
class Revaluation:
    """What a revaluation run made for one channel: the entry, its reversal, and the lines
    (account code, currency, foreign balance, booked, revalued)."""

    channel: str
    entry: JournalEntry | None = None
    reversal: JournalEntry | None = None
    lines: list[tuple[str, str, Decimal, Decimal, Decimal]] = field(default_factory=list)
    missing_rates: list[str] = field(default_factory=list)


def _monetary_accounts(
    channel: Channel, connection: LedgerConnection, on: date
) -> tuple[set[Any], MappingRule | None]:
    """The channel's monetary accounts under the mapping in force, and its unrealised-FX rule."""
    version = version_in_force(channel, connection, on)
    if version is None:
        return set(), None
    book = RuleBook.load(version)
    accounts = {rule.account_id for key, rule in book.rules.items() if key[0] in MONETARY_RULE_KINDS}
    return accounts, book.find(RuleKind.FX_UNREALISED)


def revalue(channel: Channel, as_of: date, *, actor: Any = None) -> Revaluation:
    """Revalue one channel's open foreign balances at ``as_of`` (idempotent: a second run for the
    same day finds its entry and makes nothing). Raises NeedsRate when a period-end rate is
    missing (nothing is booked at a guessed rate)."""
    connection = channel.ledger_connection
    result = Revaluation(channel=channel.slug)
    if connection is None:
        return result
    functional = connection.functional_currency
    reference = f"{channel.slug}/revaluation/{as_of.isoformat()}"
    if JournalEntry.objects.filter(connection=connection, reference=reference).exists():
        return result
    accounts, fx_rule = _monetary_accounts(channel, connection, as_of)
    if not accounts:
        return result
    balances = (
        JournalLine.objects.filter(
            entry__channel=channel,
            entry__connection=connection,
            entry__date__lte=as_of,
            account_id__in=accounts,
        )
        .exclude(currency=functional)
        .filter(Q(entry__kind__in=[EntryKind.TRANSACTION, EntryKind.REVERSAL, EntryKind.MANUAL]))
        .values("account_id", "account__code", "currency")
        .annotate(
            dr=Sum("debit"), cr=Sum("credit"), fdr=Sum("functional_debit"), fcr=Sum("functional_credit")
        )
        .order_by()
    )
    # Functional-only adjustments booked on the same accounts (earlier revaluations not yet
    # reversed, realised differences) are part of the booked value.
    specs: list[dict[str, Any]] = []
    rates: dict[str, Decimal] = {}
    for row in balances:
        foreign = (row["dr"] or ZERO) - (row["cr"] or ZERO)
        booked = (row["fdr"] or ZERO) - (row["fcr"] or ZERO)
        if not foreign and not booked:
            continue
        currency = row["currency"]
        if currency not in rates:
            rates[currency] = resolve_rate(currency, functional, as_of, connection=connection).rate
        revalued = money.quantize(foreign * rates[currency], functional)
        difference = revalued - booked
        result.lines.append((row["account__code"], currency, foreign, booked, revalued))
        if difference:
            specs.append({"amount": difference, "account_id": row["account_id"], "role": "fx",
                          "description": f"Revaluation of {money.quantize(foreign, currency)} {currency} at {rates[currency]}"})  # fmt: skip
    if not specs:
        return result
    if fx_rule is None:
        raise ValueError(f"{channel.name} has no unrealised exchange gains and losses account mapped")
    total = sum((s["amount"] for s in specs), ZERO)
    specs.append({"amount": -total, "account_id": fx_rule.account_id, "role": "fx", "mapping_rule_id": fx_rule.pk,
                  "description": "Unrealised exchange difference"})  # fmt: skip
    post = connection.platform == "builtin" or bool((connection.settings or {}).get("post_revaluations"))
    with transaction.atomic():
        entry = create_entry(
            line_specs=specs, reference=reference, date=as_of, currency=functional, channel_id=channel.pk,
            connection_id=connection.pk, kind=EntryKind.REVALUATION, functional_currency=functional,
            memo=f"{channel.name}: foreign balances revalued at {as_of}",
            number=f"{channel.slug.upper()}-REVAL-{as_of:%Y%m%d}",
        )  # fmt: skip
        reversal = create_entry(
            line_specs=reversal_specs(entry), reference=f"{reference}/rev", date=as_of + timedelta(days=1),
            currency=functional, channel_id=channel.pk, connection_id=connection.pk, kind=EntryKind.REVERSAL,
            reverses=entry, functional_currency=functional, memo=f"Automatic reversal of the revaluation at {as_of}",
            number=f"{channel.slug.upper()}-REVAL-{as_of:%Y%m%d}-R",
        )  # fmt: skip
        if post:
            create_posting(entry)
            create_posting(reversal)
        audit.record(
            "revaluation.made",
            obj=entry,
            after={"channel": channel.slug, "as_of": as_of, "lines": len(specs) - 1,
                   "difference": str(total), "rates": {c: str(r) for c, r in rates.items()}, "posted": post},
            actor=actor,
            actor_label="" if actor else "scheduler",
        )  # fmt: skip
    result.entry, result.reversal = entry, reversal
    return result


def revalue_connection(connection: LedgerConnection, as_of: date, *, actor: Any = None) -> list[Revaluation]:
    """Revalue every channel of a connection; a channel whose rate is missing is reported, not guessed."""
    done = []
    for channel in Channel.objects.filter(ledger_connection=connection).order_by("slug"):
        try:
            done.append(revalue(channel, as_of, actor=actor))
        except NeedsRate as exc:
            done.append(Revaluation(channel=channel.slug, missing_rates=[exc.reason]))
    return done


def month_ends_due(today: date) -> date:
    """The last day of the month before ``today``'s: what the scheduled job revalues."""
    return today.replace(day=1) - timedelta(days=1)


def revalue_past_month_ends(today: date) -> int:
    """Scheduled: revalue every connection at the last month end (idempotent). Returns entries made."""
    as_of = month_ends_due(today)
    made = 0
    for connection in LedgerConnection.objects.filter(active=True):
        made += sum(1 for r in revalue_connection(connection, as_of) if r.entry is not None)
    return made
