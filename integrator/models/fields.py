"""Field helpers shared by the models."""

from __future__ import annotations

from typing import Any

from django.db import models

__all__ = ["money_field"]


def money_field(**kwargs: Any) -> models.DecimalField:
    """A money column: Decimal with 4 decimal places (enough for every ISO-4217 minor unit)."""
    return models.DecimalField(max_digits=18, decimal_places=4, **kwargs)
