"""App configuration of the core domain."""

from django.apps import AppConfig


class IntegratorConfig(AppConfig):
    """The core: channels, ledgers, mappings, transactions, journals, postings, audit."""

    name = "integrator"
    verbose_name = "Integrator"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Install the integration-log recorder for outbound vendor calls."""
        from connectors import http
        from integrator.services.integration_log import record_call

        http.set_call_recorder(record_call)
