"""OpenAPI description of the bearer-token authentication (drf-spectacular extension)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer itk_...`` (tokens are created by an integration admin)."""

    target_class = "integrator.security.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        """HTTP bearer scheme."""
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token created on the Security > API tokens screen; "
            "read-only unless it holds a write scope for the resource.",
        }
