"""The QuickBooks sandbox refuses a repeated DocNumber (fault 6140) unless told to record it.

``duplicate_numbers="record"`` is what R3's QuickBooks variant counts duplicates with: the second
document must really be stored, or a "0 duplicates" check there could not fail either.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connectors.jsonwire import dumps, loads
from connectors.sandbox.quickbooks import QuickBooksSandbox

JOURNAL = {
    "DocNumber": "R3Q-1",
    "TxnDate": "2026-11-20",
    "Line": [
        {"Amount": "12.00", "DetailType": "JournalEntryLineDetail",
         "JournalEntryLineDetail": {"PostingType": "Debit", "AccountRef": {"value": "1"}}},
        {"Amount": "12.00", "DetailType": "JournalEntryLineDetail",
         "JournalEntryLineDetail": {"PostingType": "Credit", "AccountRef": {"value": "3"}}},
    ],
}  # fmt: skip


def _post_twice(sandbox: QuickBooksSandbox) -> list[requests.Response]:
    """The same journal sent twice with different request ids (two distinct requests)."""
    token = sandbox.credentials()["access_token"]
    url = f"{sandbox.url}/v3/company/{sandbox.realm_id}/journalentry"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    return [
        requests.post(url, params={"requestid": key}, data=dumps(JOURNAL), headers=headers, timeout=5)
        for key in ("a", "b")
    ]


def test_a_repeated_doc_number_is_refused_by_default() -> None:
    with QuickBooksSandbox(home_currency="GBP") as qbo:
        first, second = _post_twice(qbo)
        journals = qbo.documents("JournalEntry")
    assert (first.status_code, second.status_code) == (200, 400)
    errors: list[dict[str, Any]] = loads(second.content)["Fault"]["Error"]
    assert errors[0]["code"] == "6140" and len(journals) == 1


def test_record_mode_stores_the_duplicate() -> None:
    with QuickBooksSandbox(home_currency="GBP", duplicate_numbers="record") as qbo:
        first, second = _post_twice(qbo)
        journals = qbo.documents("JournalEntry")
    assert (first.status_code, second.status_code) == (200, 200)
    assert [j["DocNumber"] for j in journals] == ["R3Q-1", "R3Q-1"]
    assert journals[0]["Id"] != journals[1]["Id"]


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="duplicate_numbers"):
        QuickBooksSandbox(duplicate_numbers="ignore")
