"""Worked examples of the tax engine, to the minor unit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from typing import Any

import pytest

from integrator.models import TaxCheck
from integrator.services.tax_engine import BUILTIN_RULES, Item, compute
from reconciliation.models import ReconciliationException
from reconciliation.services.runs import run_reconciliation
from tests.conftest import sale_event


def test_ghana_2025_invoice_with_levies_totals_3199_89() -> None:
    # Given goods worth GHS 2,625.00 sold in Ghana in 2025
    result = compute([Item("cloth", D("2625.00"))], jurisdiction="GH", on=date(2025, 6, 30), currency="GHS",
                     rules=BUILTIN_RULES)  # fmt: skip
    # Then NHIL 2.5 % = 65.63, GETFund 2.5 % = 65.63, COVID 1 % = 26.25 on the value, and VAT 15 % on
    # the value plus those levies: 15 % x 2,782.51 = 417.38; the invoice totals 3,199.89
    assert result.by_levy() == {"NHIL": D("65.63"), "GETFund": D("65.63"), "COVID-19 levy": D("26.25"),
                                "VAT": D("417.38")}  # fmt: skip
    assert (result.tax, result.total) == (D("574.89"), D("3199.89"))


def test_ghana_2026_levies_are_charged_on_the_same_value() -> None:
    # Given the same goods on 1 January 2026 (VAT Act 2025, Act 1151): 15 % + 2.5 % + 2.5 % = 20 %
    result = compute([Item("cloth", D("2625.00"))], jurisdiction="GH", on=date(2026, 1, 1), currency="GHS",
                     rules=BUILTIN_RULES)  # fmt: skip
    assert result.by_levy() == {"VAT": D("393.75"), "NHIL": D("65.63"), "GETFund": D("65.63")}
    assert (result.tax, result.total) == (D("525.01"), D("3150.01"))


def test_ghana_2025_inclusive_price_splits_back_to_the_pesewa() -> None:
    # Given a shelf price of GHS 3,199.89 including every levy: the tax fraction 21.9 / 121.9 gives
    # 574.8775 -> 574.88 of tax and 2,625.01 of value (the invoice above rounded its levies up by a
    # pesewa); the levies on 2,625.01 add up to 574.89, so VAT, the last, gives the pesewa back
    result = compute([Item("cloth", D("3199.89"))], jurisdiction="GH", on=date(2025, 6, 30), currency="GHS",
                     inclusive=True, rules=BUILTIN_RULES)  # fmt: skip
    assert (result.value, result.tax, result.total) == (D("2625.01"), D("574.88"), D("3199.89"))
    assert result.by_levy()["VAT"] == D("417.37")


def test_kenyan_tax_inclusive_sale() -> None:
    # Given KES 2,500.00 including VAT 16 %: tax = 2,500 x 16 / 116 = 344.827... -> 344.83
    result = compute([Item("coffee", D("2500.00"))], jurisdiction="KE", on=date(2026, 3, 2), currency="KES",
                     inclusive=True, rules=BUILTIN_RULES)  # fmt: skip
    assert (result.value, result.tax, result.total) == (D("2155.17"), D("344.83"), D("2500.00"))


def test_uk_mixed_order_delivery_follows_the_goods() -> None:
    # Given a basket (standard, GBP 120.00 inc. VAT), coffee (zero-rated, GBP 30.00) and delivery GBP 4.99,
    # all VAT-inclusive: delivery splits by value 120 : 30 -> 3.99 standard (399.2p) and 1.00 zero (99.8p,
    # the larger remainder takes the odd penny)
    items = [
        Item("basket", D("120.00")),
        Item("coffee", D("30.00"), "zero"),
        Item("delivery", D("4.99"), delivery=True),
    ]
    result = compute(items, jurisdiction="GB", on=date(2026, 11, 20), currency="GBP", inclusive=True,
                     rules=BUILTIN_RULES)  # fmt: skip
    parts = {i.ref: (i.value, i.tax) for i in result.items}
    # Then VAT is 123.99 / 6 = 20.665 -> 20.67 on the standard part, nothing on the zero-rated part
    assert parts["delivery:standard"][0] + parts["delivery:standard"][1] == D("3.99")
    assert parts["delivery:zero"] == (D("1.00"), D("0"))
    assert result.by_rule() == {"UK-VAT20": D("20.67"), "UK-ZERO": D("0")}
    assert result.total == D("154.99")


def test_nigeria_south_africa_and_exempt() -> None:
    ng = compute(
        [Item("a", D("10000.00"))],
        jurisdiction="NG",
        on=date(2026, 1, 5),
        currency="NGN",
        rules=BUILTIN_RULES,
    )
    za = compute(
        [Item("a", D("199.99"))], jurisdiction="ZA", on=date(2026, 1, 5), currency="ZAR", rules=BUILTIN_RULES
    )
    ex = compute([Item("a", D("50.00"), "exempt")], jurisdiction="GB", on=date(2026, 1, 5), currency="GBP",
                 rules=BUILTIN_RULES)  # fmt: skip
    assert (ng.tax, za.tax, ex.tax) == (D("750.00"), D("30.00"), D("0"))
    with pytest.raises(LookupError, match="no standard tax rule for SN"):
        compute(
            [Item("a", D("1"))], jurisdiction="SN", on=date(2026, 1, 5), currency="XOF", rules=BUILTIN_RULES
        )


def test_the_tax_a_source_sends_is_checked_and_a_difference_raised(
    channel: Any, post_event: Any, users: Any
) -> None:
    # Given a UK channel checked against the rules
    channel.settings = {**(channel.settings or {}), "tax_jurisdiction": "GB"}
    channel.save(update_fields=["settings"])
    # When one sale charges the right VAT and one charges 15 % instead of 20 %
    post_event(channel.slug, sale_event("S-OK"))  # 120.00 + 24.00
    wrong = sale_event("S-BAD", total="138.00", lines=[{"sku": "KENTE-12", "name": "Kente", "category": "textiles",
                       "quantity": 1, "unit_price": "120.00",
                       "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "18.00"}]}])  # fmt: skip
    post_event(channel.slug, wrong)
    # Then the first is within rounding and the second differs by 6.00, with the reason
    checks = {c.transaction.external_id: c for c in TaxCheck.objects.select_related("transaction")}
    assert checks["S-OK"].within_rounding and checks["S-OK"].difference == 0
    bad = checks["S-BAD"]
    assert (bad.within_rounding, bad.stated, bad.computed, bad.difference) == (
        False,
        D("18.00"),
        D("24.00"),
        D("-6.00"),
    )
    assert "UK-VAT20 24.00" in bad.reason
    # And the transaction's page says so
    from django.test import Client

    from integrator.models import Transaction

    viewer = Client()
    viewer.force_login(users["auditor"])
    page = viewer.get(f"/transactions/{Transaction.objects.get(external_id='S-BAD').pk}/").content.decode()
    assert "differs by" in page and "the rules give 24.00" in page
    # And the reconciliation run raises it as an exception
    run_reconciliation(date(2026, 11, 20))
    exception = ReconciliationException.objects.get(key=f"tax:{bad.transaction_id}")
    assert (exception.expected, exception.actual) == (D("24.00"), D("18.00"))


def test_the_tax_report_per_code_reconciles_to_the_tax_account(channel: Any, post_event: Any) -> None:
    from integrator.services.posting import run_outbox
    from integrator.services.tax_engine.report import tax_report

    # Given two sales at 20 % and one zero-rated line
    post_event(channel.slug, sale_event("S-1"))  # 120.00 + 24.00
    post_event(channel.slug, sale_event("S-2", total="180.00", lines=[
        {"sku": "KENTE-12", "name": "Kente", "category": "textiles", "quantity": 1, "unit_price": "120.00",
         "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "24.00"}]},
        {"sku": "COFFEE", "name": "Coffee", "category": "food", "quantity": 3, "unit_price": "12.00",
         "taxes": [{"title": "VAT 0%", "rate": "0", "amount": "0.00"}]}]))  # fmt: skip
    run_outbox()
    # When the period's tax report is made
    report = tax_report(channel.ledger_connection, date(2026, 11, 1), date(2026, 11, 30))
    rows = {r.code: r for r in report.rows}
    # Then VAT20 is 48.00 on 240.00, zero-rated 0.00 on 36.00, and the VAT account agrees
    assert (rows["VAT20"].base, rows["VAT20"].tax) == (D("240.00"), D("48.00"))
    assert (rows["VAT0"].base, rows["VAT0"].tax) == (D("36.00"), D("0"))
    assert report.ledger == {"2100": D("48.00")} and report.reconciles is True
