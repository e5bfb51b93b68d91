"""FreshBooks errors, in both of its shapes, classified once into the connector taxonomy.

FreshBooks answers errors in two shapes, and the older one may come with HTTP **200**, so every
answer's body is checked, whatever its status:

* new: ``{"code": 5, "message": "...", "details": [{"reason": "1012", "metadata": {"message",
  "field", "object", "value"}}]}`` (also wrapped as ``{"errors": {"message", "status", "details"}}``,
  or with ``details`` as plain strings and an ``errno``);
* old: ``{"response": {"errors": [{"errno": 1012, "field", "message", "object", "value"}]}}``.

=================================================  ===========================================
answer                                             class
=================================================  ===========================================
401, 403, errno 1003 (unauthenticated)             :class:`AuthExpired`
5xx                                                :class:`Retryable`
any other error body or 4xx                        :class:`Permanent` with FreshBooks' messages
=================================================  ===========================================

429 (FreshBooks does not publish its limit) is answered by :class:`~connectors.http.VendorHTTP`,
which honours ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import AuthExpired, ConnectorError, Permanent, Retryable

__all__ = ["classify_answer", "error_messages"]

AUTH_ERRNOS = {"1003", "1004"}


def error_messages(body: Any) -> tuple[str, list[str]]:
    """(code, messages) of an error body in either shape; ("", []) when the body holds no error."""
    if not isinstance(body, Mapping):
        return "", []
    old = body.get("response")
    if isinstance(old, Mapping) and isinstance(old.get("errors"), list) and old["errors"]:
        errors = [e for e in old["errors"] if isinstance(e, Mapping)]
        code = str(errors[0].get("errno", "")) if errors else ""
        return code, [
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors
        ]
    new = body.get("errors") if isinstance(body.get("errors"), Mapping) else body
    if (
        isinstance(new, Mapping)
        and ("details" in new or "errno" in new or "code" in new)
        and "message" in new
    ):
        messages = []
        code = str(new.get("errno") or new.get("code") or new.get("status") or "")
        for detail in new.get("details") or []:
            if isinstance(detail, Mapping):
                meta = detail.get("metadata") or {}
                field, text = meta.get("field"), meta.get("message") or detail.get("reason")
                messages.append(f"{field}: {text}" if field else str(text))
                reason = str(detail.get("reason") or "")
                code = reason if reason.isdigit() else code
            else:
                messages.append(str(detail))
        return code, messages or [str(new["message"])]
    return "", []


def classify_answer(status: int, body: Any) -> ConnectorError | None:
    """The taxonomy error of an answer, or None for a success (errors in a 200 are errors)."""
    code, messages = error_messages(body)
    if status < 300 and not messages:
        return None
    text = "; ".join(messages) or f"HTTP {status}"
    if status >= 500:
        return Retryable(
            f"freshbooks: server error {status}", vendor_code=code or str(status), vendor_message=text
        )
    if status in (401, 403) or code in AUTH_ERRNOS:
        return AuthExpired(f"freshbooks: not authorised ({text}); connect FreshBooks again", vendor_code=code,
                           vendor_message=text)  # fmt: skip
    return Permanent(f"freshbooks: {text}", vendor_code=code or str(status), vendor_message=text)
