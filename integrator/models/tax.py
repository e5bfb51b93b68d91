"""Tax rules of the tax engine (jurisdiction, validity, components such as Ghana's levies) and the
per-revision check of the tax a source sent against what the rules compute."""

from __future__ import annotations

from django.db import models

from integrator.models.fields import money_field

__all__ = ["TaxCheck", "TaxComponent", "TaxRule"]


class TaxRule(models.Model):
    """The tax of one product tax class in one jurisdiction over a period (``valid_to`` inclusive;
    blank: still in force). Its components add up to the tax; ``code`` names it in reports and
    matches the ledger's tax code where one exists."""

    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    jurisdiction = models.CharField(max_length=10, help_text="ISO country code, e.g. GH, NG, KE, ZA, GB.")
    tax_class = models.CharField(max_length=20, default="standard")
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    exempt = models.BooleanField(default=False, help_text="Exempt (outside the tax), not zero-rated.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["jurisdiction", "tax_class", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["jurisdiction", "tax_class", "valid_from"], name="uniq_tax_rule")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class TaxComponent(models.Model):
    """One levy of a rule: ``rate`` (a fraction) on the value, or on the value plus the
    non-compound components before it when ``compound`` (Ghana's VAT before 2026)."""

    rule = models.ForeignKey(TaxRule, on_delete=models.CASCADE, related_name="components")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=80)
    rate = models.DecimalField(max_digits=9, decimal_places=6)
    compound = models.BooleanField(default=False)

    class Meta:
        ordering = ["rule", "position"]

    def __str__(self) -> str:
        return f"{self.name} {self.rate}"


class TaxCheck(models.Model):
    """The tax a transaction's revision stated against the tax the rules compute; ``difference``
    beyond rounding is shown on the transaction and raised as a reconciliation exception."""

    transaction = models.ForeignKey(
        "integrator.Transaction", on_delete=models.CASCADE, related_name="tax_checks"
    )
    revision = models.PositiveIntegerField()
    stated = money_field()
    computed = money_field()
    difference = money_field()
    within_rounding = models.BooleanField(default=True)
    reason = models.CharField(max_length=255, blank=True)
    checked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-checked_at"]
        constraints = [models.UniqueConstraint(fields=["transaction", "revision"], name="uniq_tax_check")]

    def __str__(self) -> str:
        return f"{self.transaction_id} r{self.revision}: {self.difference}"
