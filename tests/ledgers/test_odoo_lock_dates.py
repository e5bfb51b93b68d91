"""Issue 17: a posting dated inside Odoo's locked period never reaches Odoo.

Given an Odoo database whose lock date is 31 October 2026 (set in Odoo, not known to the
integrator beforehand), when a sale dated 1 October goes through the outbox, then the posting is
held as a closed period with Odoo's date in its message and Odoo received no write at all; a sale
dated after the lock date posts as usual.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from connectors.sandbox.odoo import OdooSandbox
from integrator.choices import PostingState
from integrator.models import Posting
from integrator.services.pipeline import process_received_events
from integrator.services.posting import run_outbox
from tests.conftest import signed_headers
from tests.ledgers.demo_week import demo_chart
from tests.ledgers.test_odoo_reliability import _connection, _till

pytestmark = pytest.mark.django_db

READS = {"search_read", "search", "read"}


def _sale(client: Any, number: str, day: str) -> None:
    data = {"id": number, "number": number, "occurred_at": f"{day}T12:00:00+00:00", "currency": "GBP", "total": "12.00",
            "tenders": [{"method": "card", "amount": "12.00"}],
            "lines": [{"sku": "KENTE", "name": "Kente", "quantity": 1, "unit_price": "10.00",
                       "taxes": [{"title": "VAT 20%", "rate": "0.20", "amount": "2.00"}]}]}  # fmt: skip
    body = json.dumps(
        {"id": f"e-{number}", "type": "sale.completed", "created_at": data["occurred_at"], "data": data}
    )
    response = client.post("/hooks/till/", data=body.encode(), content_type="application/json",
                           **signed_headers(body.encode(), secret="s3cret"))  # fmt: skip
    assert response.status_code == 202


def test_a_sale_in_odoos_locked_period_is_held_and_odoo_gets_no_write(client: Any) -> None:
    accounts, tax_codes = demo_chart()
    with OdooSandbox(version=18, currency="GBP") as odoo:
        odoo.seed_chart(accounts, tax_codes)
        conn = _connection(odoo)
        _till(conn)
        odoo.set_lock_dates(sale_lock_date=date(2026, 10, 31))
        _sale(client, "till-locked", "2026-10-01")
        process_received_events()
        run_outbox()
        writes = [c for c in odoo.calls if c[2] not in READS]
        locked = Posting.objects.get(entry__transaction__external_id="till-locked")
        assert locked.state == PostingState.HELD and locked.error_class == "ClosedPeriod"
        assert "2026-10-31" in locked.last_error
        assert writes == [] and odoo.records("account.move") == []
        _sale(client, "till-open", "2026-11-02")
        process_received_events()
        run_outbox()
        assert Posting.objects.get(entry__transaction__external_id="till-open").state == PostingState.POSTED
        assert len(odoo.records("account.move", [("move_type", "=", "out_invoice")])) == 1
