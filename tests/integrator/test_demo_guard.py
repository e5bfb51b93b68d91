"""``manage.py demo`` under production settings (issue 14, item 8): it printed "Demo ready" after
all 101 deliveries were refused, and still created superuser ``admin`` with the published password
and ``demo-secret-*`` signing secrets. It now refuses to run there, and fails when deliveries fail."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings

from integrator.models import Channel


@override_settings(DEMO_ALLOWED=False)
def test_the_demo_refuses_production_settings_and_creates_nothing(db: Any) -> None:
    out = io.StringIO()
    with pytest.raises(CommandError, match="production settings"):
        call_command("demo", stdout=out)
    assert not get_user_model().objects.filter(username="admin").exists()
    assert not Channel.objects.exists()
    assert "Demo ready" not in out.getvalue()


@override_settings(SECURE_SSL_REDIRECT=True)  # as production answers plain-HTTP deliveries
def test_refused_deliveries_fail_the_command_instead_of_demo_ready(db: Any) -> None:
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"deliveries were refused \(answers \{'301': \d+\}\)"):
        call_command("demo", stdout=out)
    assert "Demo ready" not in out.getvalue()
