"""The tax engine: tax rules by jurisdiction, product tax class and date, with compound levies,
inclusive prices and delivery that follows the goods it carries (see :mod:`.engine`). It computes
tax for sources that send none and checks the tax sources send (:mod:`.checks`); :mod:`.report`
totals tax per period and code against the ledger's tax accounts."""

from integrator.services.tax_engine.engine import (
    Component,
    Item,
    ItemTax,
    Rule,
    TaxResult,
    compute,
    rule_for,
)
from integrator.services.tax_engine.rules import BUILTIN_RULES

__all__ = ["BUILTIN_RULES", "Component", "Item", "ItemTax", "Rule", "TaxResult", "compute", "rule_for"]
