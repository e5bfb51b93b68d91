"""Shared fixtures: a built-in ledger with a chart, a signed generic channel, approved mappings.

Tests never reach the network: outbound HTTP goes to sandbox servers on 127.0.0.1. Tests marked
``postgres`` run only when ``DATABASE_URL`` points at PostgreSQL (``make test`` runs both).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from connectors.sources.generic import sign
from integrator.choices import AccountType, PostingMode, RuleKind
from integrator.models import Channel, LedgerAccount, LedgerConnection, MappingSet, TaxCode
from integrator.services.channels import create_channel
from integrator.services.mappings import activate_version, create_version

SECRET = "test-secret-1"

CHART = [
    ("1000", "Bank", AccountType.ASSET),
    ("1100", "Card clearing", AccountType.ASSET),
    ("1110", "Cash clearing", AccountType.ASSET),
    ("1200", "Accounts receivable", AccountType.ASSET),
    ("2100", "VAT payable", AccountType.LIABILITY),
    ("2200", "Gift card liability", AccountType.LIABILITY),
    ("2300", "Tips payable", AccountType.LIABILITY),
    ("4000", "Sales textiles", AccountType.REVENUE),
    ("4010", "Sales homeware", AccountType.REVENUE),
    ("4100", "Shipping income", AccountType.REVENUE),
    ("4200", "Discounts", AccountType.REVENUE),
    ("4300", "Returns", AccountType.REVENUE),
    ("6100", "Fees", AccountType.EXPENSE),
    ("6200", "Adjustments", AccountType.EXPENSE),
    ("6900", "Rounding", AccountType.EXPENSE),
]


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Skip PostgreSQL-only tests on SQLite."""
    from django.conf import settings

    if settings.IS_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: Any) -> None:
    """Make a report's captured output encodable before xdist sends it to the controller.

    The hostile-input tests (issue 14) make the code log values holding lone surrogates; xdist's
    channel refuses such a string and the worker dies mid-run ("strings must be utf-8 encodable").
    """
    report.sections = [
        (title, text.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(text, str) else text)
        for title, text in report.sections
    ]


@pytest.fixture(autouse=True)
def _own_audit_head_file(settings: Any, tmp_path: Any) -> None:
    """Each test keeps its exported audit head apart: verify_audit compares with the last one."""
    settings.AUDIT_HEAD_FILE = tmp_path / "audit-head.json"


@pytest.fixture
def ledger(db: Any) -> LedgerConnection:
    """A built-in ledger connection with a small chart and two tax codes."""
    conn = LedgerConnection.objects.create(platform="builtin", name="Test books", functional_currency="GBP")
    for code, name, kind in CHART:
        LedgerAccount.objects.create(connection=conn, code=code, name=name, type=kind)
    TaxCode.objects.create(connection=conn, code="VAT20", name="VAT 20%", rate=Decimal("0.20"))
    TaxCode.objects.create(connection=conn, code="VAT0", name="VAT 0%", rate=Decimal("0"))
    return conn


def standard_rules(conn: LedgerConnection, *, with_default_revenue: bool = True) -> list[dict[str, Any]]:
    """A complete rule set: category revenue, a SKU override, taxes, clearing, payouts, rounding."""
    a = {x.code: x for x in LedgerAccount.objects.filter(connection=conn)}
    t = {x.code: x for x in TaxCode.objects.filter(connection=conn)}
    rules: list[dict[str, Any]] = [
        {
            "kind": RuleKind.REVENUE,
            "match_field": "category",
            "match_value": "textiles",
            "account": a["4000"],
        },
        {
            "kind": RuleKind.REVENUE,
            "match_field": "sku",
            "match_value": "BASKET-1",
            "account": a["4010"],
            "item_ref": "BSK",
        },
        {
            "kind": RuleKind.TAX,
            "match_field": "tax",
            "match_value": "VAT 20%",
            "account": a["2100"],
            "tax_code": t["VAT20"],
        },
        {
            "kind": RuleKind.TAX,
            "match_field": "default",
            "match_value": "",
            "account": a["2100"],
            "tax_code": t["VAT0"],
        },
        {"kind": RuleKind.SHIPPING, "match_field": "default", "match_value": "", "account": a["4100"]},
        {"kind": RuleKind.DISCOUNT, "match_field": "default", "match_value": "", "account": a["4200"]},
        {"kind": RuleKind.RETURNS, "match_field": "default", "match_value": "", "account": a["4300"]},
        {"kind": RuleKind.GIFT_CARD, "match_field": "default", "match_value": "", "account": a["2200"]},
        {"kind": RuleKind.TIP, "match_field": "default", "match_value": "", "account": a["2300"]},
        {"kind": RuleKind.FEE, "match_field": "default", "match_value": "", "account": a["6100"]},
        {"kind": RuleKind.CLEARING, "match_field": "method", "match_value": "cash", "account": a["1110"]},
        {"kind": RuleKind.CLEARING, "match_field": "default", "match_value": "", "account": a["1100"]},
        {"kind": RuleKind.RECEIVABLE, "match_field": "default", "match_value": "", "account": a["1200"]},
        {"kind": RuleKind.BANK, "match_field": "default", "match_value": "", "account": a["1000"]},
        {"kind": RuleKind.ADJUSTMENT, "match_field": "default", "match_value": "", "account": a["6200"]},
        {"kind": RuleKind.ROUNDING, "match_field": "default", "match_value": "", "account": a["6900"]},
    ]
    for kind, code in ((RuleKind.FX_REALISED, "7100"), (RuleKind.FX_UNREALISED, "7110")):
        if code in a:  # charts that book exchange differences (see add_fx_accounts)
            rules.append({"kind": kind, "match_field": "default", "match_value": "", "account": a[code]})
    if with_default_revenue:
        rules.append(
            {"kind": RuleKind.REVENUE, "match_field": "default", "match_value": "", "account": a["4010"]}
        )
    return rules


def make_channel(
    conn: LedgerConnection,
    *,
    slug: str = "till",
    currency: str = "GBP",
    mode: str = PostingMode.PER_TRANSACTION,
    mapped: bool = True,
    with_default_revenue: bool = True,
) -> Channel:
    """A generic signed-JSON channel posting to ``conn``, with an active mapping from 2020."""
    channel = create_channel(
        platform="generic", name=f"Channel {slug}", slug=slug, currency=currency, ledger_connection=conn,
        webhook_secrets=[SECRET], posting_mode=mode, timezone="Europe/London",
    )  # fmt: skip
    if mapped:
        ms = MappingSet.objects.create(channel=channel, connection=conn)
        version = create_version(
            ms,
            effective_from=date(2020, 1, 1),
            rules=standard_rules(conn, with_default_revenue=with_default_revenue),
        )
        activate_version(version)
    return channel


# The ECB's euro reference rates for the days the tests book on (units per EUR), in their XML form.
REFERENCE_RATES = {
    "GBP": "0.8541",
    "USD": "1.0563",
    "CAD": "1.4731",
    "ZAR": "19.214",
    "NGN": "1650.25",
    "JPY": "161.24",
}


def reference_rates_xml(first: date = date(2026, 11, 1), days: int = 40, **overrides: str) -> bytes:
    """An ECB ``eurofxref``-style file with the same rates on every business day of a period."""
    from datetime import timedelta

    rates = {**REFERENCE_RATES, **overrides}
    cubes = "".join(
        f'<Cube time="{first + timedelta(days=n)}">'
        + "".join(f'<Cube currency="{c}" rate="{r}"/>' for c, r in rates.items())
        + "</Cube>"
        for n in range(days)
        if (first + timedelta(days=n)).weekday() < 5
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        f'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref"><Cube>{cubes}</Cube></gesmes:Envelope>'
    ).encode()


@pytest.fixture
def reference_rates(db: Any) -> dict[str, str]:
    """The ECB reference rates of 2023 to 2026 imported, the same every business day (XOF and XAF
    follow through their peg)."""
    from integrator.services.rates import import_reference_rates

    import_reference_rates(reference_rates_xml(date(2023, 1, 1), 4 * 366), provider="ECB (test)")
    return REFERENCE_RATES


def add_fx_accounts(conn: LedgerConnection) -> None:
    """Give a chart the realised and unrealised exchange-difference accounts (7100, 7110), which
    :func:`standard_rules` then maps."""
    LedgerAccount.objects.get_or_create(
        connection=conn, code="7100", defaults={"name": "Realised FX", "type": AccountType.EXPENSE}
    )
    LedgerAccount.objects.get_or_create(
        connection=conn, code="7110", defaults={"name": "Unrealised FX", "type": AccountType.EXPENSE}
    )


@pytest.fixture
def channel(ledger: LedgerConnection) -> Channel:
    """A mapped GBP channel posting per transaction."""
    return make_channel(ledger)


def signed_headers(body: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Django test-client headers for a generic signed webhook."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"HTTP_X_INTEGRATOR_TIMESTAMP": ts, "HTTP_X_INTEGRATOR_SIGNATURE": sign(secret, ts, body)}


def sale_event(
    sale_id: str = "S-1",
    *,
    currency: str = "GBP",
    lines: list[dict[str, Any]] | None = None,
    total: str = "144.00",
    inclusive: bool = False,
    occurred_at: str = "2026-11-20T10:00:00+00:00",
    updated_at: str | None = None,
    tenders: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A generic ``sale.completed`` event: by default one kente line 120.00 + 20 % VAT = 144.00."""
    data: dict[str, Any] = {
        "id": sale_id,
        "number": sale_id,
        "occurred_at": occurred_at,
        "currency": currency,
        "prices_include_tax": inclusive,
        "total": total,
        "lines": lines
        if lines is not None
        else [
            {
                "sku": "KENTE-12",
                "name": "Kente",
                "category": "textiles",
                "quantity": 1,
                "unit_price": "120.00",
                "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "24.00"}],
            }
        ],
        "tenders": tenders if tenders is not None else [{"method": "card", "amount": total}],
        **extra,
    }
    if updated_at:
        data["updated_at"] = updated_at
    return {"id": f"evt-{sale_id}" + (f"-{updated_at}" if updated_at else ""), "type": "sale.completed",
            "created_at": occurred_at, "data": data}  # fmt: skip


PostFn = Callable[..., Any]


@pytest.fixture
def post_event(client: Client, django_capture_on_commit_callbacks: Any) -> PostFn:
    """POST a generic event (dict or raw bytes) to a channel's webhook URL, signed unless told not.

    The work the view enqueues on commit runs right after (the cluster is in sync mode in tests),
    so the whole spine - ingest, normalize, validate, journal, post - happens within the call.
    """

    def post(
        slug: str, event: dict[str, Any] | bytes, *, secret: str = SECRET, signed: bool = True, **kw: Any
    ) -> Any:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        headers = signed_headers(body, secret=secret) if signed else {}
        headers.update(kw)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(f"/hooks/{slug}/", data=body, content_type="application/json", **headers)

    return post


@pytest.fixture
def users(db: Any) -> dict[str, Any]:
    """One user per role (groups come from the roles migration)."""
    from integrator.services.roles import ensure_roles

    User = get_user_model()
    groups = ensure_roles()  # a flushed (transactional) test database has lost the migration's groups
    made = {}
    for role in ("finance_clerk", "finance_manager", "auditor", "integration_admin"):
        user = User.objects.create_user(username=role, password="pw-" + role)
        user.groups.add(groups[role])
        made[role] = user
    return made


def is_postgres() -> bool:
    """True when the tests run on PostgreSQL."""
    return connection.vendor == "postgresql"
