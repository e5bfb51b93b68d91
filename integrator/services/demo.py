"""The demo store: Kente & Clay, a UK retailer of imported African goods.

Three channels send a week of sales through the real webhook path, signed like a Prysm till or a
custom shop would sign them (the generic signed JSON format):

* ``web-shop`` - online shop in GBP, VAT-inclusive prices (20 %, food zero-rated), card payments
  cleared through Stripe, discount codes, shipping, partial refunds, a weekly payout with fees.
* ``wholesale`` - B2B invoices in GBP with VAT-exclusive prices, paid by bank transfer.
* ``dakar-popup`` - a pop-up till in Dakar in West African CFA francs (XOF, no minor unit),
  VAT-inclusive (TVA 18 %), cash and mobile money, posted as one daily summary per day.

Everything is deterministic (seeded) and idempotent: running the demo twice sends the same event
ids again, which the inbox answers as duplicates.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from connectors.sources.generic import sign
from integrator import money
from integrator.choices import AccountType, PostingMode, RuleKind
from integrator.models import Channel, LedgerAccount, LedgerConnection, MappingSet, Product, TaxCode
from integrator.services.channels import create_channel
from integrator.services.mappings import activate_version, create_version

__all__ = [
    "DEMO_USERS",
    "DemoStore",
    "build_events",
    "demo_reference_rates",
    "load_reference_rates",
    "setup_store",
]

DEMO_USERS = {
    "clerk": ("clerk-demo-pass", "finance_clerk", "Ama Mensah (finance clerk)"),
    "manager": ("manager-demo-pass", "finance_manager", "Kofi Boateng (finance manager)"),
    "auditor": ("auditor-demo-pass", "auditor", "Fatou Diop (auditor)"),
    "admin": ("admin-demo-pass", "integration_admin", "Integration admin"),
}

ACCOUNTS = [
    ("1000", "Bank current account", AccountType.ASSET),
    ("1100", "Card clearing (Stripe)", AccountType.ASSET),
    ("1110", "Cash clearing (tills)", AccountType.ASSET),
    ("1120", "Mobile money clearing", AccountType.ASSET),
    ("1200", "Accounts receivable", AccountType.ASSET),
    ("1300", "Inventory", AccountType.ASSET),
    ("2100", "VAT payable (UK)", AccountType.LIABILITY),
    ("2110", "TVA payable (Senegal)", AccountType.LIABILITY),
    ("2200", "Gift card liability", AccountType.LIABILITY),
    ("2300", "Tips payable to staff", AccountType.LIABILITY),
    ("3000", "Owner's equity", AccountType.EQUITY),
    ("4000", "Sales - textiles", AccountType.REVENUE),
    ("4010", "Sales - baskets and homeware", AccountType.REVENUE),
    ("4020", "Sales - beauty", AccountType.REVENUE),
    ("4030", "Sales - food and drink", AccountType.REVENUE),
    ("4100", "Shipping income", AccountType.REVENUE),
    ("4200", "Discounts given", AccountType.REVENUE),
    ("4300", "Returns and refunds", AccountType.REVENUE),
    ("5000", "Cost of goods sold", AccountType.EXPENSE),
    ("6100", "Payment processing fees", AccountType.EXPENSE),
    ("6200", "Chargebacks and payout adjustments", AccountType.EXPENSE),
    ("6900", "Rounding differences", AccountType.EXPENSE),
    ("7100", "Realised exchange gains and losses", AccountType.EXPENSE),
    ("7110", "Unrealised exchange gains and losses", AccountType.EXPENSE),
]

# sku, name, category, GBP price, XOF price, UK VAT rate
CATALOGUE = [
    ("KENTE-12", "Kente cloth, 12 yards (Bonwire, Ghana)", "textiles", "189.00", 95000, "0.20"),
    ("KENTE-STOLE", "Kente graduation stole", "textiles", "24.50", 12500, "0.20"),
    ("MUDCLOTH-THROW", "Bogolan mud cloth throw (Mali)", "textiles", "68.00", 35000, "0.20"),
    ("BOLGA-BASKET-L", "Bolga market basket, large", "homeware", "42.00", 18000, "0.20"),
    ("BOLGA-BASKET-S", "Bolga basket, small", "homeware", "19.99", 8500, "0.20"),
    ("SHEA-250", "Raw shea butter 250 g (Tamale)", "beauty", "9.95", 3500, "0.20"),
    ("BLACK-SOAP", "African black soap bar", "beauty", "4.50", 1500, "0.20"),
    ("YIRGA-500", "Yirgacheffe coffee beans 500 g", "food", "14.00", 7000, "0.00"),
    ("BERBERE-100", "Berbere spice blend 100 g", "food", "5.25", 2000, "0.00"),
    ("ROOIBOS-100", "Rooibos tea 100 g", "food", "4.75", 1800, "0.00"),
    ("MAASAI-BRACELET", "Maasai beaded bracelet", "homeware", "12.00", 6000, "0.20"),
    ("ADINKRA-STAMPS", "Adinkra stamp set (hand-carved)", "crafts", "32.00", 15000, "0.20"),
]
CATEGORY_ACCOUNT = {"textiles": "4000", "homeware": "4010", "beauty": "4020", "food": "4030"}


@dataclass
class DemoStore:
    """What :func:`setup_store` made."""

    connection: LedgerConnection
    channels: dict[str, Channel]
    secrets: dict[str, str] = field(default_factory=dict)


def _users() -> None:
    User = get_user_model()
    for username, (password, role, full_name) in DEMO_USERS.items():
        user, created = User.objects.get_or_create(username=username, defaults={"first_name": full_name})
        if created:
            user.set_password(password)
            user.is_staff = username == "admin"
            user.is_superuser = username == "admin"
            user.save()
        group = Group.objects.filter(name=role).first()
        if group is not None:
            user.groups.add(group)


def _rules(connection: LedgerConnection, channel: Channel) -> list[dict[str, Any]]:
    acct = {a.code: a for a in LedgerAccount.objects.filter(connection=connection)}
    tax = {t.code: t for t in TaxCode.objects.filter(connection=connection)}
    rules: list[dict[str, Any]] = [
        {"kind": RuleKind.REVENUE, "match_field": "category", "match_value": cat, "account": acct[code]}
        for cat, code in CATEGORY_ACCOUNT.items()
    ]
    # A SKU-specific rule beats its category: kente cloth has its own item reference in the
    # built-in books (an external ledger's items are its own: there the connector finds or makes
    # the item of each income account).
    rules.append(
        {
            "kind": RuleKind.REVENUE,
            "match_field": "sku",
            "match_value": "KENTE-12",
            "account": acct["4000"],
            "item_ref": "KENTE-12" if connection.platform == "builtin" else "",
        }
    )
    if channel.currency == "XOF":
        rules.append(
            {
                "kind": RuleKind.TAX,
                "match_field": "default",
                "match_value": "",
                "account": acct["2110"],
                "tax_code": tax["SN-TVA18"],
            }
        )
    else:
        rules.append(
            {
                "kind": RuleKind.TAX,
                "match_field": "tax",
                "match_value": "VAT 20%",
                "account": acct["2100"],
                "tax_code": tax["UK-VAT20"],
            }
        )
        rules.append(
            {
                "kind": RuleKind.TAX,
                "match_field": "tax",
                "match_value": "VAT 0%",
                "account": acct["2100"],
                "tax_code": tax["UK-ZERO"],
            }
        )
    rules += [
        {"kind": RuleKind.SHIPPING, "match_field": "default", "match_value": "", "account": acct["4100"]},
        {"kind": RuleKind.DISCOUNT, "match_field": "default", "match_value": "", "account": acct["4200"]},
        {"kind": RuleKind.RETURNS, "match_field": "default", "match_value": "", "account": acct["4300"]},
        {"kind": RuleKind.GIFT_CARD, "match_field": "default", "match_value": "", "account": acct["2200"]},
        {"kind": RuleKind.TIP, "match_field": "default", "match_value": "", "account": acct["2300"]},
        {"kind": RuleKind.FEE, "match_field": "default", "match_value": "", "account": acct["6100"]},
        {"kind": RuleKind.CLEARING, "match_field": "method", "match_value": "card", "account": acct["1100"]},
        {"kind": RuleKind.CLEARING, "match_field": "method", "match_value": "cash", "account": acct["1110"]},
        {
            "kind": RuleKind.CLEARING,
            "match_field": "method",
            "match_value": "mobile_money",
            "account": acct["1120"],
        },
        {
            "kind": RuleKind.CLEARING,
            "match_field": "method",
            "match_value": "bank_transfer",
            "account": acct["1000"],
        },
        {"kind": RuleKind.CLEARING, "match_field": "default", "match_value": "", "account": acct["1100"]},
        {"kind": RuleKind.RECEIVABLE, "match_field": "default", "match_value": "", "account": acct["1200"]},
        {"kind": RuleKind.BANK, "match_field": "default", "match_value": "", "account": acct["1000"]},
        {"kind": RuleKind.ADJUSTMENT, "match_field": "default", "match_value": "", "account": acct["6200"]},
        {"kind": RuleKind.ROUNDING, "match_field": "default", "match_value": "", "account": acct["6900"]},
        {"kind": RuleKind.FX_REALISED, "match_field": "default", "match_value": "", "account": acct["7100"]},
        {
            "kind": RuleKind.FX_UNREALISED,
            "match_field": "default",
            "match_value": "",
            "account": acct["7110"],
        },
    ]
    return rules


TAX_CODES = [
    ("UK-VAT20", "UK VAT standard 20%", "0.20"),
    ("UK-ZERO", "UK VAT zero-rated", "0"),
    ("SN-TVA18", "Senegal TVA 18%", "0.18"),
]


def setup_store(connection: LedgerConnection | None = None) -> DemoStore:
    """Create (or find) users, the ledger and its chart, channels and approved mappings.

    Without ``connection`` the demo keeps its books in the built-in ledger. With one (a QuickBooks
    or Xero company holding the demo's chart, :data:`ACCOUNTS` and :data:`TAX_CODES`, whose chart
    was read into the connection), the same store posts there instead."""
    _users()
    manager = get_user_model().objects.get(username="manager")
    clerk = get_user_model().objects.get(username="clerk")
    with transaction.atomic():
        if connection is None:
            connection, _ = LedgerConnection.objects.get_or_create(
                platform="builtin",
                name="Kente & Clay books (built-in ledger)",
                defaults={"functional_currency": "GBP"},
            )
            for code, name, kind in ACCOUNTS:
                LedgerAccount.objects.get_or_create(
                    connection=connection, code=code, defaults={"name": name, "type": kind}
                )
            for code, name, rate in TAX_CODES:
                TaxCode.objects.get_or_create(
                    connection=connection, code=code, defaults={"name": name, "rate": Decimal(rate)}
                )
        for sku, name, category, *_ in CATALOGUE:
            Product.objects.get_or_create(sku=sku, defaults={"name": name, "category": category})
    specs = [
        ("web-shop", "Online shop", "generic", "GBP", "Europe/London", PostingMode.PER_TRANSACTION),
        (
            "wholesale",
            "Wholesale (B2B invoices)",
            "generic",
            "GBP",
            "Europe/London",
            PostingMode.PER_TRANSACTION,
        ),
        (
            "dakar-popup",
            "Dakar pop-up till (Prysm POS)",
            "prysm",
            "XOF",
            "Africa/Dakar",
            PostingMode.DAILY_SUMMARY,
        ),
    ]
    channels: dict[str, Channel] = {}
    secrets: dict[str, str] = {}
    for slug, name, platform, currency, tz, mode in specs:
        secret = f"demo-secret-{slug}"
        channel = Channel.objects.filter(slug=slug).first() or create_channel(
            platform=platform, name=name, slug=slug, currency=currency, ledger_connection=connection,
            webhook_secrets=[secret], timezone=tz, posting_mode=mode,
        )  # fmt: skip
        channels[slug] = channel
        secrets[slug] = secret
        mapping_set, created = MappingSet.objects.get_or_create(channel=channel, connection=connection)
        if created or not mapping_set.versions.exists():
            version = create_version(
                mapping_set, effective_from=date(2024, 1, 1), rules=_rules(connection, channel), actor=clerk,
                note="Initial chart mapping for the demo store",
            )  # fmt: skip
            activate_version(version, actor=manager)
    load_reference_rates(local_today())
    return DemoStore(connection=connection, channels=channels, secrets=secrets)


# ------------------------------------------------------------------------------------------------
# Reference rates
# ------------------------------------------------------------------------------------------------

# EUR->GBP around the late-2026 level, moving a little each day (deterministic): the demo imports
# them in the ECB's own XML form, through the same importer as a real file.
_EUR_GBP = Decimal("0.8541")


def demo_reference_rates(today: date, days: int = 10) -> bytes:
    """An ECB ``eurofxref``-style XML file with the euro reference rates of the demo's days."""
    cubes = []
    for back in range(days, -1, -1):
        day = today - timedelta(days=back)
        if day.weekday() >= 5:
            continue  # the ECB publishes on business days only
        gbp = _EUR_GBP + Decimal(day.toordinal() % 7 - 3) * Decimal("0.0011")
        cubes.append(
            f'<Cube time="{day.isoformat()}"><Cube currency="USD" rate="1.0563"/>'
            f'<Cube currency="GBP" rate="{gbp}"/><Cube currency="ZAR" rate="19.214"/></Cube>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">'
        "<gesmes:subject>Reference rates</gesmes:subject>"
        "<gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>"
        f"<Cube>{''.join(cubes)}</Cube></gesmes:Envelope>"
    ).encode()


def load_reference_rates(today: date) -> dict[str, int]:
    """Import the demo's reference rates (the Dakar till's XOF sales convert through them)."""
    from integrator.services.rates import import_reference_rates

    return import_reference_rates(demo_reference_rates(today), provider="ECB (demo)")


# ------------------------------------------------------------------------------------------------
# Events
# ------------------------------------------------------------------------------------------------


def _s(d: Decimal) -> str:
    return str(d)


def _inclusive_tax(gross: Decimal, rate: Decimal, cur: str) -> Decimal:
    return money.quantize(gross * rate / (1 + rate), cur)


def _sale_lines(
    rng: random.Random, cur: str, inclusive: bool, discount_pct: Decimal
) -> tuple[list[dict[str, Any]], Decimal]:
    lines = []
    subtotal = Decimal(0)
    for i, (sku, name, category, gbp, xof, uk_rate) in enumerate(rng.sample(CATALOGUE, rng.randint(1, 4))):
        if sku == "ADINKRA-STAMPS" and rng.random() < 0.6:
            continue
        qty = rng.choice([1, 1, 1, 2, 3])
        price = money.parse_amount(xof if cur == "XOF" else gbp, cur)
        rate = Decimal("0.18") if cur == "XOF" else Decimal(uk_rate)
        title = "TVA 18%" if cur == "XOF" else f"VAT {int(rate * 100)}%"
        gross = money.quantize(price * qty, cur)
        discount = money.quantize(gross * discount_pct, cur)
        base = gross - discount
        tax = _inclusive_tax(base, rate, cur) if inclusive else money.quantize(base * rate, cur)
        lines.append(
            {"id": str(i + 1), "sku": sku, "name": name, "category": category, "quantity": qty, "unit_price": _s(price),
             "discount": _s(discount), "taxes": [{"title": title, "rate": _s(rate), "amount": _s(tax)}]}
        )  # fmt: skip
        subtotal += base + (Decimal(0) if inclusive else tax)
    return lines, subtotal


def _ticket_tax(lines: list[dict[str, Any]], cur: str) -> None:
    """Tax as a till charges it: once on the ticket's total per rate (what the ticket prints),
    shared back over the lines, the remainder on the largest line (the books take this figure)."""
    by_rate: dict[Decimal, list[dict[str, Any]]] = {}
    for ln in lines:
        by_rate.setdefault(Decimal(ln["taxes"][0]["rate"]), []).append(ln)
    for rate, members in by_rate.items():
        bases = [Decimal(ln["unit_price"]) * ln["quantity"] - Decimal(ln["discount"]) for ln in members]
        ticket = _inclusive_tax(sum(bases, Decimal(0)), rate, cur)
        parts = [_inclusive_tax(b, rate, cur) for b in bases]
        largest = max(range(len(members)), key=lambda k: bases[k])
        parts[largest] += ticket - sum(parts, Decimal(0))
        for ln, part in zip(members, parts, strict=True):
            ln["taxes"] = [{**ln["taxes"][0], "amount": _s(part)}]


def _shipping(lines: list[dict[str, Any]], charge: Decimal, title: str) -> list[dict[str, Any]]:
    """Delivery follows the VAT of the goods it carries (HMRC): a food-only order's delivery is
    zero-rated, a mixed order's is shared between the rates by the value of the goods."""
    values: dict[Decimal, Decimal] = {}
    for ln in lines:
        rate = Decimal(ln["taxes"][0]["rate"])
        values[rate] = (
            values.get(rate, Decimal(0))
            + Decimal(ln["unit_price"]) * ln["quantity"]
            - Decimal(ln["discount"])
        )
    total = sum(values.values(), Decimal(0))
    rates = sorted(values, reverse=True)
    shares = [money.quantize(charge * values[r] / total, "GBP") for r in rates]
    shares[0] += charge - sum(shares, Decimal(0))
    out = []
    for rate, share in zip(rates, shares, strict=True):
        if not share:
            continue
        label = title if len(rates) == 1 else f"{title} ({'standard-rated' if rate else 'zero-rated'} share)"
        tax = _inclusive_tax(share, rate, "GBP")
        out.append({"title": label, "amount": _s(share),
                    "taxes": [{"title": f"VAT {int(rate * 100)}%", "rate": _s(rate), "amount": _s(tax)}]})  # fmt: skip
    return out


def build_events(today: date, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """A week of events per channel slug (deterministic for a given ``today`` and seed)."""
    rng = random.Random(seed)
    events: dict[str, list[dict[str, Any]]] = {"web-shop": [], "wholesale": [], "dakar-popup": []}
    card_items: list[dict[str, Any]] = []
    london, dakar = ZoneInfo("Europe/London"), ZoneInfo("Africa/Dakar")
    for back in range(7, 0, -1):
        day = today - timedelta(days=back)
        # Online shop: VAT-inclusive, shipping, discount codes, card via Stripe.
        for n in range(rng.randint(5, 8)):
            at = datetime(day.year, day.month, day.day, 9 + n, rng.randint(0, 59), tzinfo=london)
            code = "AKWAABA10" if rng.random() < 0.3 else ""
            lines, subtotal = _sale_lines(rng, "GBP", True, Decimal("0.10") if code else Decimal(0))
            if not lines:
                continue
            ship = Decimal("4.95")
            shipping = _shipping(lines, ship, "Royal Mail Tracked 48")
            total = subtotal + ship
            oid = f"WS-{day:%m%d}-{n + 1:02d}"
            sale = {"id": oid, "number": f"#{day:%m%d}{n + 1:02d}", "occurred_at": at.isoformat(), "currency": "GBP",
                    "prices_include_tax": True, "total": _s(total), "lines": lines,
                    "shipping": shipping,
                    "discounts": [{"code": code, "amount": _s(sum((Decimal(ln["discount"]) for ln in lines), Decimal(0)))}] if code else [],
                    "tenders": [{"method": "card", "gateway": "stripe", "amount": _s(total), "reference": f"ch_{oid}"}],
                    "customer": {"id": f"C{rng.randint(100, 999)}", "name": rng.choice(["Abena Owusu", "Tom Hughes", "Chidi Okafor", "Sarah Green"])}}  # fmt: skip
            events["web-shop"].append(
                {"id": f"evt-{oid}", "type": "sale.completed", "created_at": at.isoformat(), "data": sale}
            )
            card_items.append({"type": "charge", "amount": total, "source_id": oid})
            if rng.random() < 0.15:
                ln = lines[0]
                qty = Decimal(1)
                unit_net = Decimal(ln["unit_price"]) - money.quantize(
                    Decimal(ln["discount"]) / Decimal(ln["quantity"]), "GBP"
                )
                rate = Decimal(ln["taxes"][0]["rate"])
                rtax = _inclusive_tax(unit_net, rate, "GBP")
                refund = {"id": f"RF-{oid}", "sale_id": oid, "occurred_at": (at + timedelta(hours=3)).isoformat(), "currency": "GBP",
                          "prices_include_tax": True, "total": _s(unit_net), "reason": "Customer changed their mind", "restock": True,
                          "lines": [{**ln, "quantity": 1, "unit_price": _s(unit_net), "discount": "0", "taxes": [{**ln["taxes"][0], "amount": _s(rtax)}]}],
                          "tenders": [{"method": "card", "gateway": "stripe", "amount": _s(unit_net)}]}  # fmt: skip
                events["web-shop"].append(
                    {
                        "id": f"evt-{refund['id']}",
                        "type": "refund.completed",
                        "created_at": refund["occurred_at"],
                        "data": refund,
                    }
                )
                card_items.append({"type": "refund", "amount": -unit_net * qty, "source_id": refund["id"]})
        # Wholesale: one VAT-exclusive invoice a day, paid two days later.
        at = datetime(day.year, day.month, day.day, 11, 0, tzinfo=london)
        lines, total = _sale_lines(rng, "GBP", False, Decimal(0))
        if lines:
            lines = [{**ln, "quantity": ln["quantity"] * 10} for ln in lines]
            subtotal = Decimal(0)
            for ln in lines:
                base = money.quantize(Decimal(ln["unit_price"]) * ln["quantity"], "GBP")
                tax = money.quantize(base * Decimal(ln["taxes"][0]["rate"]), "GBP")
                ln["taxes"] = [{**ln["taxes"][0], "amount": _s(tax)}]
                subtotal += base + tax
            inv = f"INV-{day:%Y%m%d}"
            customer = {
                "id": "B2B-017",
                "name": "Afro Home Stores Ltd",
                "company": "Afro Home Stores Ltd",
                "tax_number": "GB123456789",
            }
            events["wholesale"].append({"id": f"evt-{inv}", "type": "invoice.issued", "created_at": at.isoformat(), "data": {
                "id": inv, "number": inv, "occurred_at": at.isoformat(), "currency": "GBP", "prices_include_tax": False,
                "total": _s(subtotal), "lines": lines, "customer": customer, "due_date": (day + timedelta(days=30)).isoformat()}})  # fmt: skip
            if back > 2:
                paid_at = at + timedelta(days=2)
                # The week's first invoice is paid in two parts (a deposit, then the balance).
                parts = [money.quantize(subtotal * Decimal("0.4"), "GBP")] if back == 7 else []
                parts.append(subtotal - sum(parts, Decimal(0)))
                for k, part in enumerate(parts, start=1):
                    pid = f"PAY-{inv}" + (f"-{k}" if len(parts) > 1 else "")
                    when = paid_at + timedelta(hours=k - 1)
                    events["wholesale"].append({"id": f"evt-{pid}", "type": "payment.completed", "created_at": when.isoformat(), "data": {
                        "id": pid, "occurred_at": when.isoformat(), "currency": "GBP", "amount": _s(part),
                        "method": "bank_transfer", "invoice_id": inv}})  # fmt: skip
        # Dakar pop-up: XOF (no minor unit), TVA-inclusive, cash and mobile money.
        for n in range(rng.randint(3, 6)):
            at = datetime(day.year, day.month, day.day, 10 + n, rng.randint(0, 59), tzinfo=dakar)
            lines, total = _sale_lines(rng, "XOF", True, Decimal(0))
            if not lines:
                continue
            _ticket_tax(lines, "XOF")
            sid = f"DK-{day:%m%d}-{n + 1:02d}"
            method = rng.choice(["cash", "mobile_money"])
            events["dakar-popup"].append({"id": f"evt-{sid}", "type": "sale.completed", "created_at": at.isoformat(), "data": {
                "id": sid, "number": sid, "occurred_at": at.isoformat(), "currency": "XOF", "prices_include_tax": True,
                "total": _s(total), "lines": lines, "tenders": [{"method": method, "amount": _s(total)}]}})  # fmt: skip
    # Weekly Stripe payout for the online shop: gross charges less refunds, 1.5 % + 20p fees.
    payout_at = datetime(today.year, today.month, today.day, 6, 0, tzinfo=london) - timedelta(days=1)
    items = []
    for it in card_items:
        fee = (
            money.quantize(it["amount"] * Decimal("0.015") + Decimal("0.20"), "GBP")
            if it["type"] == "charge"
            else Decimal(0)
        )
        items.append(
            {
                "type": it["type"],
                "amount": _s(it["amount"]),
                "fee": _s(fee),
                "net": _s(it["amount"] - fee),
                "source_id": it["source_id"],
            }
        )
    net: Decimal = sum((Decimal(i["net"]) for i in items), Decimal(0))
    events["web-shop"].append({"id": f"evt-po-{today:%Y%m%d}", "type": "payout.paid", "created_at": payout_at.isoformat(), "data": {
        "id": f"po-{today:%Y%m%d}", "occurred_at": payout_at.isoformat(), "currency": "GBP", "amount": _s(net), "status": "paid",
        "items": items}})  # fmt: skip
    return events


Sender = Callable[[str, bytes, dict[str, str]], int]


def deliver(store: DemoStore, events: dict[str, list[dict[str, Any]]], send: Sender) -> dict[str, int]:
    """Sign and send every event through ``send(path, body, headers) -> status``; count statuses."""
    counts: dict[str, int] = {}
    for slug, items in events.items():
        for event in items:
            body = json.dumps(event, sort_keys=True).encode()
            ts = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Integrator-Timestamp": ts,
                "X-Integrator-Signature": sign(store.secrets[slug], ts, body),
            }
            status = send(f"/hooks/{slug}/", body, headers)
            counts[str(status)] = counts.get(str(status), 0) + 1
    return counts


def local_today() -> date:
    """Today in the demo store's home time zone."""
    return timezone.now().astimezone(ZoneInfo("Europe/London")).date()
