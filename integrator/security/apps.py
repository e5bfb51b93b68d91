"""App configuration of the security app."""

from django.apps import AppConfig


class SecurityConfig(AppConfig):
    """API tokens, MFA, session limits and the audit-trail screen (label ``security``)."""

    name = "integrator.security"
    label = "security"
    verbose_name = "Security"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Connect the login signals and register the OpenAPI description of token auth."""
        from integrator.security import schema, signals  # noqa: F401
