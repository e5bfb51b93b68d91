"""Approving a mapping change under ``make run`` (SQLite file + ORM broker + a real worker).

The defect (issue 13): the approval answered 500 "Cannot operate on a closed database". Approving
activates a version, and after the commit ``retry_held_transactions`` walks the held transactions
with a database cursor; journalling each one enqueues its posting, and django-q2's ORM broker
closes "old" database connections before it enqueues outside a transaction (with
``CONN_MAX_AGE=0`` every connection is old), so the cursor's next fetch hit a closed database. The
test suite never saw it: its SQLite database is in memory (closing is a no-op) and tasks run inline.
This test runs the real configuration, over HTTP, with a person's steps through the API.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.makerun import running_app, wait_for

pytestmark = pytest.mark.slow

SKU = "ADINKRA-STAMPS"
WORKER_TIMEOUT = 300  # bounds a hang: the worker books the demo's ~100 events in 10-20 s here


def test_manager_approves_a_mapping_change_under_make_run(tmp_path: Path) -> None:
    with running_app(tmp_path, demo=True) as app:
        held_sql = (
            "select count(*) from integrator_transaction t join integrator_channel c on c.id = t.channel_id "
            "where c.slug = 'web-shop' and t.status = 'needs_mapping'"
        )

        def demo_booked() -> bool:
            pending = app.scalar("select count(*) from integrator_inboundevent where status = 'received'")
            return pending == 0 and (app.scalar(held_sql) or 0) > 0

        wait_for(demo_booked, timeout=WORKER_TIMEOUT, what="the worker to book the demo")
        held_before = app.scalar(held_sql)
        first_day = app.scalar(
            "select min(t.business_date) from integrator_transaction t join integrator_channel c "
            "on c.id = t.channel_id where c.slug = 'web-shop' and t.status = 'needs_mapping'"
        )

        # Given a clerk's submitted change that maps the product to the homeware account
        clerk = app.session().login("clerk", "clerk-demo-pass")
        mapping_set = clerk.page("/api/v1/mapping-sets/?page_size=50").json()["results"]
        web_shop = next(m for m in mapping_set if m["channel_slug"] == "web-shop")
        account = clerk.page(f"/api/v1/accounts/?code=4010&connection_id={web_shop['connection']}").json()
        change = clerk.send_json(
            "/api/v1/mapping-changes/",
            {
                "mapping_set": web_shop["id"],
                "title": f"Revenue account for {SKU}",
                "reason": "Stamp sets are crafts: homeware until crafts get an account.",
                "effective_from": first_day,
                "items": [{"kind": "revenue", "match_field": "sku", "match_value": SKU,
                           "account": account["results"][0]["id"]}],
            },
        )  # fmt: skip
        assert change.status_code == 201, change.text[:500]
        change_id = change.json()["id"]
        submitted = clerk.send_json(f"/api/v1/mapping-changes/{change_id}/submit/", {})
        assert submitted.status_code == 200, submitted.text[:500]

        # When a finance manager, verified with a second factor, approves it
        manager = app.session().login("manager", "manager-demo-pass")
        manager.enrol_authenticator()
        approved = manager.send_json(
            f"/api/v1/mapping-changes/{change_id}/approve/", {"comment": "ok", "confirm_reposting": True}
        )

        # Then the approval succeeds and the held sales are booked by the worker
        assert approved.status_code == 200, (approved.status_code, approved.text[:300], app.server_errors())
        assert approved.json()["status"] == "approved"
        wait_for(lambda: app.scalar(held_sql) == 0, timeout=WORKER_TIMEOUT, what="the held sales to book")
        booked = app.scalar(
            "select count(*) from integrator_transaction t join integrator_channel c on c.id = t.channel_id "
            "where c.slug = 'web-shop' and t.status in ('journaled', 'posted')"
        )
        assert held_before and booked >= held_before
        assert not app.server_errors(), app.server_errors()
