"""Personal data: pseudonymise customers in records older than the retention period.

The books need amounts, dates, tax and, for invoices, which customer: not who the person is. After
``PERSONAL_DATA_RETENTION_DAYS`` (default two years) the customer's name and e-mail in a
transaction's canonical document become stable pseudonyms (the same person gets the same pseudonym,
so reports can still group by customer), and names, e-mails, phone numbers, addresses and IP
addresses are removed from the raw vendor payloads (inbox rows) and the integration log. Customer
ids, company names and tax numbers stay: they are what an invoice in the ledger refers to.
Running it again changes nothing: pseudonymised values are recognised.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from integrator.models import InboundEvent, IntegrationCall, Transaction
from integrator.services import audit

__all__ = ["PseudonymiseResult", "pseudonym", "pseudonymise_before", "scrub_payload"]

REMOVED = "[removed]"
PSEUDO_DOMAIN = "pseudonymised.invalid"
_PSEUDO = re.compile(
    rf"^(customer-[0-9a-f]{{12}}|[0-9a-f]{{12}}@{re.escape(PSEUDO_DOMAIN)}|\[removed\]|\[redacted\])$"
)
_EMAIL_KEY = re.compile(r"e-?mail", re.IGNORECASE)
_REMOVE_KEY = re.compile(
    r"(phone|address|street|postcode|postal_?code|^zip|^city$|^province|latitude|longitude|user_?agent|"
    r"^ip$|_ip$|^ip_|birth|client_details)",
    re.IGNORECASE,
)
_NAME_KEY = re.compile(
    r"^(name|first_?name|last_?name|full_?name|given_?name|family_?name|display_?name)$", re.I
)
# Objects whose "name" is a person's name (elsewhere "name" is a product or a tax).
_PERSON_CONTAINERS = re.compile(
    r"^(customer|billing|billing_details|shipping|shipping_details|recipient|buyer|contact|cardholder|payer|"
    r"customer_details|owner|person|individual)$",
    re.IGNORECASE,
)
_HEADER_REMOVE = re.compile(r"(forwarded|real-ip|client-ip|cookie|user-agent|^x-.*-ip$)", re.IGNORECASE)
_BATCH = 500


def _key() -> bytes:
    return hashlib.sha256(("pseudonym:" + settings.SECRET_KEY).encode()).digest()


def pseudonym(value: str, *, email: bool = False) -> str:
    """A stable pseudonym (keyed HMAC: not reversible without the secret key, same input -> same output)."""
    digest = hmac.new(_key(), value.strip().lower().encode(), hashlib.sha256).hexdigest()[:12]
    return f"{digest}@{PSEUDO_DOMAIN}" if email else f"customer-{digest}"


def _is_done(value: Any) -> bool:
    return not isinstance(value, str) or not value or bool(_PSEUDO.match(value))


def scrub_payload(value: Any, *, in_person: bool = False) -> tuple[Any, bool]:
    """Remove personal data from a JSON-like structure; returns (new value, changed?)."""
    changed = False
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = str(k)
            if _EMAIL_KEY.search(key) and isinstance(v, str):
                new: Any = v if _is_done(v) else pseudonym(v, email=True)
            elif _REMOVE_KEY.search(key) and v not in (None, "", REMOVED, [], {}):
                new = REMOVED
            elif in_person and _NAME_KEY.match(key) and isinstance(v, str):
                new = v if _is_done(v) else pseudonym(v)
            else:
                new, sub = scrub_payload(v, in_person=bool(_PERSON_CONTAINERS.match(key)))
                changed = changed or sub
                out[k] = new
                continue
            changed = changed or new != v
            out[k] = new
        return out, changed
    if isinstance(value, list):
        items = [scrub_payload(v, in_person=in_person) for v in value]
        return [i for i, _ in items], any(c for _, c in items)
    return value, False


def _scrub_document(document: Any) -> tuple[Any, bool]:
    """The canonical document: only the customer's name and e-mail change."""
    if not isinstance(document, dict) or not isinstance(document.get("customer"), dict):
        return document, False
    customer = dict(document["customer"])
    changed = False
    for key, is_email in (("name", False), ("email", True)):
        value = customer.get(key)
        if isinstance(value, str) and not _is_done(value):
            customer[key] = pseudonym(value, email=is_email)
            changed = True
    return ({**document, "customer": customer} if changed else document), changed


def _scrub_raw_body(body: str) -> tuple[str, bool]:
    try:
        data = json.loads(body)
    except ValueError:
        return body, False  # not JSON (a file row): left as received
    new, changed = scrub_payload(data)
    return (json.dumps(new, separators=(",", ":")) if changed else body), changed


def _scrub_headers(headers: Any) -> tuple[Any, bool]:
    if not isinstance(headers, dict):
        return headers, False
    kept = {k: (REMOVED if _HEADER_REMOVE.search(str(k)) and v != REMOVED else v) for k, v in headers.items()}
    return kept, kept != headers


@dataclass
class PseudonymiseResult:
    """Rows changed per table (or that would change, in a dry run)."""

    cutoff: datetime
    dry_run: bool
    changed: dict[str, int] = field(default_factory=dict)


def _process(
    label: str,
    qs: models.QuerySet[Any],
    fields: list[str],
    scrubbers: list[Callable[[Any], tuple[Any, bool]]],
    result: PseudonymiseResult,
    actor: Any,
) -> None:
    """Scrub ``fields`` of the rows in ``qs`` batch by batch; each batch commits with its audit row."""
    pks = list(qs.order_by("pk").values_list("pk", flat=True))
    total = 0
    for start in range(0, len(pks), _BATCH):
        chunk = pks[start : start + _BATCH]
        with transaction.atomic():
            changed = 0
            for row in qs.model._base_manager.filter(pk__in=chunk).values("pk", *fields):
                update = {}
                for name, scrub in zip(fields, scrubbers, strict=True):
                    new, did = scrub(row[name])
                    if did:
                        update[name] = new
                if update:
                    changed += 1
                    if not result.dry_run:
                        qs.model._base_manager.filter(pk=row["pk"]).update(**update)
            if changed and not result.dry_run:
                audit.record(
                    "personal_data.pseudonymised",
                    object_type=label,
                    after={"cutoff": result.cutoff.isoformat(), "rows": changed, "fields": fields},
                    actor=actor,
                    actor_label="" if actor is not None else "purge_personal_data",
                )
            total += changed
    result.changed[label] = total


def pseudonymise_before(
    cutoff: datetime | None = None, *, dry_run: bool = False, actor: Any = None
) -> PseudonymiseResult:
    """Pseudonymise personal data in transactions, inbox rows and integration-log rows older than
    ``cutoff`` (default: now minus ``PERSONAL_DATA_RETENTION_DAYS``)."""
    cutoff = cutoff or timezone.now() - timedelta(days=int(settings.PERSONAL_DATA_RETENTION_DAYS))
    result = PseudonymiseResult(cutoff=cutoff, dry_run=dry_run)
    _process(
        "integrator.Transaction", Transaction.objects.filter(occurred_at__lt=cutoff),
        ["document"], [_scrub_document], result, actor,
    )  # fmt: skip
    _process(
        "integrator.InboundEvent", InboundEvent.objects.filter(received_at__lt=cutoff),
        ["body", "headers"], [_scrub_raw_body, _scrub_headers], result, actor,
    )  # fmt: skip
    _process(
        "integrator.IntegrationCall", IntegrationCall.objects.filter(created_at__lt=cutoff),
        ["request_body", "response_body"], [scrub_payload, scrub_payload], result, actor,
    )  # fmt: skip
    return result
