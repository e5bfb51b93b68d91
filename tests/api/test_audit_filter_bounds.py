"""The audit trail's ``actor_id`` filter refuses an id no database integer can hold (found by
schemathesis: ``?actor_id=10**20`` overflowed SQLite's driver and answered 500)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from integrator.services import audit


@pytest.mark.django_db
def test_actor_id_past_every_integer_is_a_400_and_a_real_one_filters() -> None:
    user = get_user_model().objects.create_superuser("auditor-admin", password="x" * 16)
    audit.record("test.one", actor=user, object_type="t", object_id="1")
    audit.record("test.two", object_type="t", object_id="2")
    client: Any = APIClient()
    client.force_authenticate(user)
    for value in (str(10**20), "-5", "1.5", "1e400"):
        response = client.get("/api/v1/audit-events/", {"actor_id": value})
        assert response.status_code == 400, (value, response.status_code)
    found = client.get("/api/v1/audit-events/", {"actor_id": user.pk})
    assert found.status_code == 200
    assert [row["action"] for row in found.json()["results"]] == ["test.one"]
