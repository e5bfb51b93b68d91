"""The one webhook receiver for every source: ``POST /hooks/<channel-slug>/``.

Answers: 202 stored (new), 200 duplicate (already stored, no new work), 401 bad or missing
signature, 400 malformed, 404 unknown channel, 413 body over 1 MiB (refused before it is read),
415 a content type the platform never sends, 405 not POST. A source whose vendor wants a
particular success answer gives it through ``acknowledge_webhook`` (Adobe Commerce: 200
``{"op": "success"}``). A vendor's handshake (Clover's verification code, WooCommerce's ping) is answered by the source's ``handle_handshake`` and kept on
the channel for the admin to see, never stored as an event. The 2xx is sent only after the inbox row is committed. Every refusal is logged on the
``integrator.security`` logger; none may become a 500. This is the only CSRF-exempt view: the
vendor's signature is its authentication.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connectors.base import MalformedPayload, SignatureInvalid, UnknownPlatform, WebhookRequest
from integrator.models import Channel
from integrator.services.channels import record_webhook_handshake, source_for
from integrator.services.ingest import store_event

__all__ = ["receive_webhook"]

security_log = logging.getLogger("integrator.security")


def _refuse(status: int, reason: str, request: HttpRequest, slug: str) -> JsonResponse:
    security_log.warning(
        "webhook refused: status=%s channel=%s reason=%s ip=%s request_id=%s",
        status,
        slug,
        reason,
        request.META.get("REMOTE_ADDR", ""),
        getattr(request, "request_id", ""),
    )
    return JsonResponse({"status": "refused", "error": reason}, status=status)


@csrf_exempt
@require_POST
def receive_webhook(request: HttpRequest, channel_slug: str) -> JsonResponse:
    """Verify, identify and store one webhook delivery."""
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _refuse(400, "invalid Content-Length", request, channel_slug)
    if declared > limit:
        return _refuse(413, f"body larger than {limit} bytes", request, channel_slug)
    channel = Channel.objects.filter(slug=channel_slug, active=True).first()
    if channel is None:
        return _refuse(404, "unknown channel", request, channel_slug)
    try:
        body = request.read(limit + 1)
    except RequestDataTooBig:
        return _refuse(413, f"body larger than {limit} bytes", request, channel_slug)
    if len(body) > limit:
        return _refuse(413, f"body larger than {limit} bytes", request, channel_slug)
    try:
        source = source_for(channel)
    except UnknownPlatform:
        return _refuse(404, "channel platform has no connector", request, channel_slug)
    hook = WebhookRequest(
        body=body,
        headers={k: v for k, v in request.headers.items()},
        url=request.build_absolute_uri(),
        received_at=timezone.now(),
    )
    media_type = (request.content_type or "").split(";")[0].strip().lower()
    if media_type not in source.accepted_content_types:
        accepted = ", ".join(sorted(source.accepted_content_types))
        return _refuse(
            415, f"content type {media_type or 'none'!r}; expected {accepted}", request, channel_slug
        )
    try:
        reply = source.handle_handshake(hook)
    except (MalformedPayload, UnicodeDecodeError, RecursionError, ValueError, KeyError, TypeError) as exc:
        return _refuse(400, f"malformed handshake: {type(exc).__name__}", request, channel_slug)
    if reply is not None:
        if reply.record:
            record_webhook_handshake(channel, dict(reply.record))
        return JsonResponse(dict(reply.body), status=reply.status)
    try:
        source.verify_webhook(hook)
    except SignatureInvalid as exc:
        return _refuse(401, f"signature: {exc}", request, channel_slug)
    except (ValueError, TypeError, OverflowError, UnicodeError) as exc:
        # A parser that trips over a hostile header has still not seen a valid signature: 401.
        # Sources read headers strictly (connectors.headers); this is the net under them.
        return _refuse(401, f"signature could not be checked: {type(exc).__name__}", request, channel_slug)
    try:
        envelope = source.identify_webhook(hook)
        text = body.decode("utf-8")
        if "\x00" in text or "\\u0000" in text:
            # PostgreSQL text and JSON cannot hold NUL; no vendor sends it in earnest.
            raise MalformedPayload("body contains NUL characters")
    except (MalformedPayload, UnicodeDecodeError, RecursionError, ValueError, KeyError, TypeError) as exc:
        # Whatever a connector trips over in a hostile body is the sender's fault: 400, never 500.
        return _refuse(400, f"malformed: {type(exc).__name__}: {str(exc)[:200]}", request, channel_slug)
    result = store_event(channel, envelope, text, hook.headers)
    ack = source.acknowledge_webhook(result.created)
    if ack is not None:
        # The vendor dictates the success answer; the header still tells new from duplicate.
        response = JsonResponse(dict(ack.body), status=ack.status)
        response["X-Integrator-Delivery"] = "accepted" if result.created else "duplicate"
        return response
    return JsonResponse(
        {"status": "accepted" if result.created else "duplicate", "event": str(result.event.pk)},
        status=202 if result.created else 200,
    )
