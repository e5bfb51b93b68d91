"""Cash and mobile-money takings ↔ bank and wallet statement lines.

Card takings leave their clearing account through the gateway's payout (see ``matching``). Cash
and mobile money do not: the shop banks the day's cash, and the wallet operator's statement (M-Pesa,
Orange Money ... imported as the bank statement of another account, usually CSV) shows the money
arriving. Until a statement line shows it, the takings sit in a clearing account and the drawer's
over/short is only the till's word. So, per channel, business day, currency and method:

* the **takings** are the booked tenders of that method (sales less refunds) plus, for cash, the
  over/short of that day's drawer counts: what the counted drawer says should reach the bank
  (float moved between drawer and safe is not takings and is left out);
* each takings amount is paired with an unmatched statement line of the channel's books, in its
  currency, for exactly that amount, dated on the day or up to ``WINDOW_DAYS`` after (the earliest
  such line; a line is used once, and never one already paired with a payout);
* takings still unpaired are a ``clearing_unmatched`` exception, and each drawer count with an
  over/short on an unpaired cash day is a ``cash_over_short`` exception; both clear themselves on
  the first run after the line is imported.

Runs look back ``LOOKBACK_DAYS`` before the period, so a deposit imported late still clears an
older day's exceptions. A pairing whose takings later change (a late refund) is undone and tried
again with the new amount.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import chain
from typing import Any

from django.db.models import Q, Sum

from integrator import money
from integrator.choices import TransactionKind
from integrator.models import Channel, Transaction, TransactionPayment
from reconciliation.choices import ExceptionKind
from reconciliation.models import BankLine, ClearingMatch, ReconciliationRun
from reconciliation.services.checks import booked_q
from reconciliation.services.findings import CheckOutcome, Finding
from reconciliation.services.matching import reconcile_payouts

__all__ = [
    "CASH_METHODS",
    "LOOKBACK_DAYS",
    "WALLET_METHODS",
    "WINDOW_DAYS",
    "Takings",
    "check_clearing",
    "match_clearing",
    "reconcile_payouts_and_clearing",
    "takings",
]

#: Cash is banked a few days after the day at most; a wallet sweeps the same day or the next.
WINDOW_DAYS = 5
LOOKBACK_DAYS = 31
CASH_METHODS = frozenset({"cash"})
#: Mobile-money method names the connectors emit; a channel may name more in
#: ``settings["wallet_methods"]``.
WALLET_METHODS = frozenset(
    {"mpesa", "orange_money", "mtn_momo", "mtn_mobile_money", "airtel_money", "wave", "moov_money",
     "free_money", "tigo_pesa", "ecocash", "mobile_money"}
)  # fmt: skip
ZERO = Decimal(0)


@dataclass
class Takings:
    """One channel's takings of one method on one day, and the drawer counts behind a cash day."""

    channel_id: Any
    day: date
    currency: str
    method: str
    amount: Decimal = ZERO
    counts: list[dict[str, Any]] = field(default_factory=list)  # cash counts with an over/short

    @property
    def key(self) -> tuple[Any, date, str, str]:
        """The takings' identity."""
        return (self.channel_id, self.day, self.currency, self.method)


def _methods(channel_settings: dict[str, Any] | None) -> frozenset[str]:
    extra = (channel_settings or {}).get("wallet_methods") or []
    return CASH_METHODS | WALLET_METHODS | frozenset(str(m) for m in extra)


def takings(start: date, end: date) -> dict[tuple[Any, date, str, str], Takings]:
    """Cash and wallet takings of booked transactions, per channel, day, currency and method."""
    of_period = Transaction.objects.filter(business_date__range=(start, end))
    methods = {pk: _methods(s) for pk, s in Channel.objects.values_list("pk", "settings")}
    wanted = frozenset().union(*methods.values()) if methods else frozenset()
    found: dict[tuple[Any, date, str, str], Takings] = {}

    def item(channel_id: Any, day: date, currency: str, method: str) -> Takings:
        key = (channel_id, day, currency, method)
        if key not in found:
            found[key] = Takings(channel_id, day, currency, method)
        return found[key]

    booked = of_period.filter(booked_q(start, end))  # posted and not unsettled, by key
    tenders = (
        TransactionPayment.objects.filter(
            transaction__in=booked.filter(kind__in=[TransactionKind.SALE, TransactionKind.REFUND]),
            kind="payment",
            method__in=wanted,
        )
        .values(
            "transaction__channel_id",
            "transaction__business_date",
            "transaction__currency",
            "transaction__kind",
            "method",
        )
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in tenders:
        channel_id, method = row["transaction__channel_id"], row["method"]
        if method not in methods.get(channel_id, frozenset()):
            continue
        sign = -1 if row["transaction__kind"] == TransactionKind.REFUND else 1
        entry = item(channel_id, row["transaction__business_date"], row["transaction__currency"], method)
        entry.amount += sign * (row["total"] or ZERO)
    counts = booked.filter(kind=TransactionKind.CASH_COUNT).values(
        "pk", "channel_id", "business_date", "currency", "number", "external_id", "document"
    )
    for c in counts:
        doc = c["document"] or {}
        over_short = Decimal(str(doc.get("counted") or 0)) - Decimal(str(doc.get("expected") or 0))
        if not over_short:
            continue
        entry = item(c["channel_id"], c["business_date"], c["currency"], str(doc.get("method") or "cash"))
        entry.amount += over_short
        entry.counts.append({**c, "over_short": over_short, "register": str(doc.get("register") or "")})
    return found


def match_clearing(start: date, end: date, run: ReconciliationRun | None) -> list[ClearingMatch]:
    """Pair unpaired takings of the period (and the look-back) with statement lines (idempotent)."""
    first = start - timedelta(days=LOOKBACK_DAYS)
    items = takings(first, end)
    existing = {
        (m.channel_id, m.day, m.currency, m.method): m
        for m in ClearingMatch.objects.filter(day__range=(first, end))
    }
    for key, match in existing.items():
        current = items.get(key)
        if current is None or money.quantize(current.amount, match.currency) != match.amount:
            match.delete()  # the takings changed since (a late refund): pair them again
    paired = set(
        ClearingMatch.objects.filter(day__range=(first, end)).values_list(
            "channel_id", "day", "currency", "method"
        )
    )
    todo = [
        t
        for k, t in sorted(items.items(), key=lambda kv: (kv[0][1], str(kv[0][0]), kv[0][3]))
        if k not in paired and t.amount > 0
    ]
    if not todo:
        return []
    connections = dict(Channel.objects.values_list("pk", "ledger_connection_id"))
    lines = BankLine.objects.filter(
        match__isnull=True,
        clearing_match__isnull=True,
        date__range=(first, end + timedelta(days=WINDOW_DAYS)),
        currency__in={t.currency for t in todo},
        amount__in={money.quantize(t.amount, t.currency) for t in todo},
        bank_account__connection_id__in={connections.get(t.channel_id) for t in todo},
    ).values("pk", "date", "amount", "currency", "bank_account__connection_id")
    pool: dict[tuple[Any, str, Decimal], list[Any]] = defaultdict(list)
    for ln in lines.order_by("date", "pk"):
        pool[
            (ln["bank_account__connection_id"], ln["currency"], money.quantize(ln["amount"], ln["currency"]))
        ].append(ln)
    made = []
    for t in todo:
        amount = money.quantize(t.amount, t.currency)
        candidates = pool.get((connections.get(t.channel_id), t.currency, amount), [])
        line = next(
            (c for c in candidates if t.day <= c["date"] <= t.day + timedelta(days=WINDOW_DAYS)), None
        )
        if line is None:
            continue
        candidates.remove(line)
        made.append(
            ClearingMatch(
                channel_id=t.channel_id,
                day=t.day,
                currency=t.currency,
                method=t.method,
                amount=amount,
                bank_line_id=line["pk"],
                run=run,
            )
        )
    ClearingMatch.objects.bulk_create(made)
    return made


def _words(method: str) -> str:
    return "Cash" if method in CASH_METHODS else method.replace("_", " ").title().replace("Mpesa", "M-Pesa")


def check_clearing(start: date, end: date) -> CheckOutcome:
    """Takings not yet seen on a bank or wallet statement, and the over/short behind them."""
    first = start - timedelta(days=LOOKBACK_DAYS)
    items = takings(first, end)
    paired = set(
        ClearingMatch.objects.filter(day__range=(first, end)).values_list(
            "channel_id", "day", "currency", "method"
        )
    )
    channels = {
        pk: (name, conn)
        for pk, name, conn in Channel.objects.values_list("pk", "name", "ledger_connection_id")
    }
    findings: list[Finding] = []
    for key, t in sorted(items.items(), key=lambda kv: (kv[0][1], str(kv[0][0]), kv[0][3])):
        amount = money.quantize(t.amount, t.currency)
        if key in paired or not amount:
            continue
        name, connection = channels.get(t.channel_id, ("A channel", None))
        what = _words(t.method)
        short = sum((c["over_short"] for c in t.counts), ZERO)
        counted = (
            f" (the drawer counts were {'over' if short > 0 else 'short'} by {abs(short):,} {t.currency})"
            if short
            else ""
        )
        where = "bank" if t.method in CASH_METHODS else "bank or wallet"
        findings.append(
            Finding(
                key=f"{ExceptionKind.CLEARING_UNMATCHED}:{t.channel_id}:{t.day}:{t.currency}:{t.method}",
                kind=ExceptionKind.CLEARING_UNMATCHED,
                day=t.day,
                currency=t.currency,
                amount=amount,
                expected=amount,
                actual=ZERO,
                channel_id=t.channel_id,
                connection_id=connection,
                explanation=(
                    f"{what} takings of {name} on {t.day}: {amount:,} {t.currency}{counted} have not been "
                    f"matched by a {where} statement line of that amount within {WINDOW_DAYS} days; they "
                    f"stay in the {what.lower()} clearing account until the statement shows them."
                ),
            )
        )
        for c in t.counts:
            over_short = money.quantize(c["over_short"], t.currency)
            findings.append(
                Finding(
                    key=f"{ExceptionKind.CASH_OVER_SHORT}:{c['pk']}",
                    kind=ExceptionKind.CASH_OVER_SHORT,
                    day=t.day,
                    currency=t.currency,
                    amount=over_short,
                    channel_id=t.channel_id,
                    connection_id=connection,
                    transaction_id=c["pk"],
                    explanation=(
                        f"The drawer count {c['number'] or c['external_id']} of {name}"
                        + (f" (register {c['register']})" if c["register"] else "")
                        + f" on {t.day} was {'over' if over_short > 0 else 'short'} by {abs(over_short):,} "
                        f"{t.currency}, booked to cash over/short; it is confirmed once the day's cash "
                        f"deposit of {amount:,} {t.currency} appears on a bank statement."
                    ),
                )
            )
    return CheckOutcome(
        name="cash and wallet takings vs statements",
        scope=Q(kind__in=[ExceptionKind.CLEARING_UNMATCHED, ExceptionKind.CASH_OVER_SHORT], day__range=(first, end)),
        findings=findings,
        checked=len(items),
        facts={"unbanked_takings": [
            {"day": str(t.day), "method": t.method, "currency": t.currency, "amount": str(money.quantize(t.amount, t.currency))}
            for k, t in sorted(items.items(), key=lambda kv: (kv[0][1], kv[0][3])) if k not in paired and t.amount
        ]},
    )  # fmt: skip


def reconcile_payouts_and_clearing(
    start: date, end: date, run: ReconciliationRun | None = None
) -> CheckOutcome:
    """The bank step of a run: cash and wallet takings are paired first (so a cash deposit is never
    mistaken for a deposit without payout), then payouts, then what is left is reported."""
    paired = match_clearing(start, end, run)
    payouts = reconcile_payouts(start, end, run)
    clearing = check_clearing(start, end)
    return CheckOutcome(
        name=payouts.name,
        scope=payouts.scope | clearing.scope,
        findings=chain(payouts.findings, clearing.findings),
        checked=payouts.checked + clearing.checked,
        matches=payouts.matches + len(paired),
        facts={**payouts.facts, **clearing.facts},
    )
