"""One error body for the whole API: ``{"error": {"code", "message", "details"}}``.

``code`` is stable and machine-readable (``not_found``, ``permission_denied``, ``invalid``,
``conflict``, ...); ``message`` is one sentence for a person; ``details`` carries field errors for
``invalid`` (``{"field": ["message", ...]}``) and is ``{}`` otherwise. Set
``REST_FRAMEWORK["EXCEPTION_HANDLER"] = "integrator.api.errors.exception_handler"`` so every API
view answers this way; the core viewsets also use it directly (``get_exception_handler``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

__all__ = ["Conflict", "ErrorBodySerializer", "error_body", "exception_handler"]


class Conflict(exceptions.APIException):
    """The request is valid but the object's state does not allow it (409)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object's current state does not allow this."
    default_code = "conflict"


class _ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. not_found, invalid, conflict.")
    message = serializers.CharField(help_text="One sentence for a person.")
    details = serializers.DictField(help_text="Field errors for 'invalid'; empty otherwise.")


class ErrorBodySerializer(serializers.Serializer):
    """The body of every API error (for the OpenAPI schema)."""

    error = _ErrorSerializer()


_CODES = {
    Http404: "not_found",
    DjangoPermissionDenied: "permission_denied",
}


def _code_of(exc: Exception) -> str:
    for cls, code in _CODES.items():
        if isinstance(exc, cls):
            return code
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        if isinstance(codes, str):
            return codes
        return str(exc.default_code)
    return "error"


def _message_of(exc: Exception, data: Any) -> str:
    if isinstance(exc, exceptions.ValidationError):
        if isinstance(data, dict) and set(data) == {"non_field_errors"}:
            return str(data["non_field_errors"][0])
        if isinstance(data, list) and data:
            return str(data[0])
        return "Some fields are not valid; see details."
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])
    return str(exc) or "The request failed."


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The standard error body."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (status codes, headers such as Retry-After), then the standard body."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django answers 500 and logs it
    data = response.data
    details: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        details = data if isinstance(data, dict) else {"non_field_errors": data}
    response.data = error_body(_code_of(exc), _message_of(exc, data), details)
    return response
