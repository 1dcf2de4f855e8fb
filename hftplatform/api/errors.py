"""One error format for the whole API: ``{"error": {"code", "message", "fields"}}``.

``code`` is a stable machine-readable string, ``message`` a sentence for people, ``fields`` maps input field
names to their messages (empty when the error is not about one field).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from hftplatform.errors import ServiceError

__all__ = ["ServiceError", "api_not_found", "error_body", "exception_handler"]


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [f"{key}: {message}" for key, value in detail.items() for message in _flatten(value)]
    if isinstance(detail, list):
        return [message for item in detail for message in _flatten(item)]
    return [str(detail)]


def _fields(detail: Any) -> dict[str, Any]:
    if not isinstance(detail, dict):
        return {}
    return {key: _flatten(value) for key, value in detail.items() if key != "non_field_errors"}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: a 500, logged by Django
    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = _fields(detail)
        general = detail.get("non_field_errors") if isinstance(detail, dict) else detail
        message = "; ".join(_flatten(general)) if general else "The input is not valid: see fields."
        response.data = error_body("invalid", message, fields)
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        response.data = error_body(code, "; ".join(_flatten(exc.detail)))
    return response


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """404 for URLs no API view matched, in the same format."""
    body = error_body("not_found", f"No API endpoint at {request.path}.")
    return JsonResponse(body, status=status.HTTP_404_NOT_FOUND)


def api_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)
