"""``{% alerts_panel %}``: the open alerts a person wants on their Today page (two queries)."""

from __future__ import annotations

from typing import Any

from django import template

from integrator.services.alerts import alerts_for

register = template.Library()

__all__ = ["alerts_panel"]


@register.inclusion_tag("integrator/_alerts.html", takes_context=True)
def alerts_panel(context: dict[str, Any]) -> dict[str, Any]:
    """Open alerts for the person looking, as their alert settings say."""
    request = context.get("request")
    user = getattr(request, "user", None)
    return {"alerts": alerts_for(user) if user is not None else []}
