"""Prysm POS as a sales source.

Prysm publishes no API and no webhook format of its own, so it reaches the books two ways:

* **Its "transaction completed" webhook**, pointed at ``POST /hooks/<channel-slug>/`` and sending
  our generic signed JSON format (``connectors/sources/generic_schema.json``, explained in
  docs/generic-webhook.md): ``sale.completed`` / ``sale.updated`` / ``sale.voided``,
  ``refund.completed`` and ``cash_count.completed``, signed with ``X-Integrator-Signature``. Prysm
  sends what our schema asks; everything the generic source does applies (the timestamp window,
  secret rotation, the event id as the dedupe key).
* **Its end-of-day Z report**, exported as CSV or XLSX by tills that cannot send webhooks, and
  imported through a django-import-export resource with a column mapping saved per till
  (:mod:`.z_report`, the import service ``integrator.services.z_reports``). Each report is one
  inbox event (``z_report.imported``, source ``file``, deduplicated on till, date and report
  number) that becomes a sale summary, a refund summary and a cash count.

A till that names no location or register gets the channel's (``settings["location"]``,
``settings["register"]``), so its daily summary is still made per till.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

from connectors.base import ConnectionCheck, MalformedPayload, SetupField
from connectors.sources.generic import GenericSource
from connectors.sources.prysm.z_report import report_documents
from integrator import money
from integrator.canonical import CanonicalDocument

__all__ = ["Z_REPORT_EVENT", "PrysmSource"]

#: The inbox event type of one imported Z report.
Z_REPORT_EVENT = "z_report.imported"


class PrysmSource(GenericSource):
    """Prysm POS: the generic signed JSON webhook, plus Z report files."""

    platform = "prysm"
    display_name = "Prysm POS"
    capabilities = frozenset({"webhook", "file_import"})
    setup_fields = (
        SetupField("location", "Shop (location)", help="Used when a sale or Z report names no shop."),
        SetupField("register", "Till (register)", help="Used when a sale or Z report names no till."),
    )

    def parse_event(self, event_type: str, payload: Mapping[str, Any]) -> list[CanonicalDocument]:
        """Generic events as the generic source reads them; a Z report to its documents. Either
        way, documents without a location or register get the channel's."""
        if event_type == Z_REPORT_EVENT:
            if not isinstance(payload, Mapping) or payload.get("kind") != "z_report":
                raise MalformedPayload("prysm: the stored Z report is not one")
            try:
                docs = report_documents(payload, timezone=self.config.timezone)
            except (KeyError, ValueError, TypeError, AttributeError, money.InvalidAmount) as exc:
                # TypeError, AttributeError: a value of the wrong shape (tenders not an object)
                raise MalformedPayload(f"prysm: the stored Z report cannot be read: {exc}") from exc
        else:
            docs = super().parse_event(event_type, payload)
        return [self._numbered_by_till(self._with_till(doc)) for doc in docs]

    def _with_till(self, doc: CanonicalDocument) -> CanonicalDocument:
        location = str(self.config.settings.get("location") or "")
        register = str(self.config.settings.get("register") or "")
        if not hasattr(doc, "register") or not (location or register):
            return doc
        changes: dict[str, Any] = {}
        if not getattr(doc, "location", "") and location:
            changes["location"] = location
        if not getattr(doc, "register", "") and register:
            changes["register"] = register
        return cast(CanonicalDocument, dataclasses.replace(doc, **changes)) if changes else doc

    @staticmethod
    def _numbered_by_till(doc: CanonicalDocument) -> CanonicalDocument:
        """Prysm numbers tickets per till (T0001 on every till): the number a document is filed
        under is qualified with its till, so two tills' T0001 stay two documents."""
        register = str(getattr(doc, "register", "") or "")
        number = str(getattr(doc, "number", "") or "")
        if not register or not number or number.startswith(f"{register}/"):
            return doc
        changes: dict[str, Any] = {"number": f"{register}/{number}"}
        return cast(CanonicalDocument, dataclasses.replace(doc, **changes))

    def test_connection(self) -> ConnectionCheck:
        """Prysm has no API to call: say what to set up instead, and whether it can work."""
        url = f"/hooks/{self.config.channel_slug}/"
        secrets = len(self.config.webhook_secrets)
        details = {"webhook_url": url, "secrets": secrets, "schema": "docs/generic-webhook.md"}
        if not secrets:
            return ConnectionCheck(
                False,
                "Prysm POS has no API to test. Give this channel a webhook secret, then point the till's "
                f"'transaction completed' webhook at {url} with that secret (or import its Z reports).",
                details,
            )
        return ConnectionCheck(
            True,
            "Prysm POS has no API to test. Point the till's 'transaction completed' webhook at "
            f"{url} with this channel's secret; the first signed delivery shows in the inbox. Tills "
            "that only export files: import their Z reports.",
            details,
        )
