"""The screen tests share the API tests' fixtures."""

from tests.api.conftest import api_env, nobody, superuser

__all__ = ["api_env", "nobody", "superuser"]
