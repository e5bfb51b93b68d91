"""App configuration of reconciliation."""

from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    """Daily checks, bank statements, matches and exceptions."""

    name = "reconciliation"
    verbose_name = "Reconciliation"
    default_auto_field = "django.db.models.BigAutoField"
