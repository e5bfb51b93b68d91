"""App configuration of the core domain."""

from django.apps import AppConfig


class IntegratorConfig(AppConfig):
    """The core: channels, ledgers, mappings, transactions, journals, postings, audit."""

    name = "integrator"
    verbose_name = "Integrator"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Install the integration-log recorder for outbound vendor calls, and the cross-process
        refresh lock and credential reader used by OAuth clients."""
        from connectors import auth, http
        from integrator.services.credentials import connection_lock, load_connection_credentials
        from integrator.services.integration_log import record_call

        http.set_call_recorder(record_call)
        auth.configure(lock_factory=connection_lock, credentials_loader=load_connection_credentials)
