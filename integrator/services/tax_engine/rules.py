"""The tax rules the engine knows without configuration, and the rules people configure
(:class:`integrator.models.TaxRule`), which come first.

Sources: Ghana Revenue Authority (VAT Act 2013, Act 870, with the NHIL, GETFund and COVID-19
Health Recovery levies; VAT Act 2025, Act 1151, from 1 January 2026); Nigeria VAT 7.5 % (Finance
Act 2019); Kenya VAT 16 %; South Africa VAT 15 %; UK VAT standard 20 %, reduced 5 %, zero and
exempt (HMRC).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from integrator.services.tax_engine.engine import Component, Rule

__all__ = ["BUILTIN_RULES", "rules_in_force"]

_GH_LEVIES_2025 = (
    Component("NHIL", D("0.025")),
    Component("GETFund", D("0.025")),
    Component("COVID-19 levy", D("0.01")),
    Component("VAT", D("0.15"), compound=True),
)
_GH_2026 = (Component("VAT", D("0.15")), Component("NHIL", D("0.025")), Component("GETFund", D("0.025")))

BUILTIN_RULES: list[Rule] = [
    Rule("GH-VAT-STD", "Ghana VAT 15 % with NHIL, GETFund and COVID-19 levies", "GH", "standard",
         date(2023, 1, 1), _GH_LEVIES_2025, valid_to=date(2025, 12, 31)),
    Rule("GH-VAT-2026", "Ghana VAT 15 %, NHIL 2.5 %, GETFund 2.5 % (Act 1151)", "GH", "standard",
         date(2026, 1, 1), _GH_2026),
    Rule("GH-ZERO", "Ghana zero-rated", "GH", "zero", date(2023, 1, 1), ()),
    Rule("GH-EXEMPT", "Ghana exempt", "GH", "exempt", date(2023, 1, 1), (), exempt=True),
    Rule("NG-VAT", "Nigeria VAT 7.5 %", "NG", "standard", date(2020, 2, 1), (Component("VAT", D("0.075")),)),
    Rule("NG-ZERO", "Nigeria zero-rated", "NG", "zero", date(2020, 2, 1), ()),
    Rule("NG-EXEMPT", "Nigeria exempt", "NG", "exempt", date(2020, 2, 1), (), exempt=True),
    Rule("KE-VAT16", "Kenya VAT 16 %", "KE", "standard", date(2018, 9, 21), (Component("VAT", D("0.16")),)),
    Rule("KE-ZERO", "Kenya zero-rated", "KE", "zero", date(2018, 9, 21), ()),
    Rule("KE-EXEMPT", "Kenya exempt", "KE", "exempt", date(2018, 9, 21), (), exempt=True),
    Rule("ZA-VAT15", "South Africa VAT 15 %", "ZA", "standard", date(2018, 4, 1), (Component("VAT", D("0.15")),)),
    Rule("ZA-ZERO", "South Africa zero-rated", "ZA", "zero", date(2018, 4, 1), ()),
    Rule("ZA-EXEMPT", "South Africa exempt", "ZA", "exempt", date(2018, 4, 1), (), exempt=True),
    Rule("UK-VAT20", "UK VAT standard 20 %", "GB", "standard", date(2011, 1, 4), (Component("VAT", D("0.20")),)),
    Rule("UK-VAT5", "UK VAT reduced 5 %", "GB", "reduced", date(2011, 1, 4), (Component("VAT", D("0.05")),)),
    Rule("UK-ZERO", "UK VAT zero-rated", "GB", "zero", date(2011, 1, 4), ()),
    Rule("UK-EXEMPT", "UK VAT exempt", "GB", "exempt", date(2011, 1, 4), (), exempt=True),
]  # fmt: skip


def rules_in_force() -> list[Rule]:
    """Configured rules (database) first, then the built-in ones."""
    from integrator.models import TaxRule

    configured = [
        Rule(
            r.code,
            r.name,
            r.jurisdiction.upper(),
            r.tax_class,
            r.valid_from,
            tuple(Component(c.name, c.rate, c.compound) for c in r.components.all()),
            valid_to=r.valid_to,
            exempt=r.exempt,
        )
        for r in TaxRule.objects.prefetch_related("components")
    ]
    return configured + BUILTIN_RULES
