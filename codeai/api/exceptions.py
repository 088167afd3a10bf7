"""One error format for the whole API: {"error": "<message>", "details": {...}}."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("codeai.api")


class ApiError(exceptions.APIException):
    """An error with a message and details the client can act on."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, details: dict[str, Any] | None = None, status_code=None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if status_code is not None:
            self.status_code = status_code


class ValidationFailed(ApiError):
    def __init__(self, details: dict[str, str]):
        super().__init__("validation failed", details, status.HTTP_400_BAD_REQUEST)


class NotFound(ApiError):
    def __init__(self, resource: str):
        super().__init__(f"{resource} not found", {}, status.HTTP_404_NOT_FOUND)


class Conflict(ApiError):
    def __init__(self, message: str, details: dict[str, Any] | None = None):
        super().__init__(message, details, status.HTTP_409_CONFLICT)


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, str]:
    """Turn DRF's nested error structure into {"field.sub": "first message"}."""
    if isinstance(detail, dict):
        flat: dict[str, str] = {}
        for key, value in detail.items():
            name = "body" if key in ("non_field_errors", "__all__") and not prefix else str(key)
            flat.update(flatten_errors(value, f"{prefix}.{name}" if prefix else name))
        return flat
    if isinstance(detail, list):
        if detail and all(not isinstance(item, dict | list) for item in detail):
            return {prefix or "body": str(detail[0])}
        flat = {}
        for index, item in enumerate(detail):
            if item:
                flat.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "body": str(detail)}


def _body(message: str, details: dict | None = None) -> dict:
    return {"error": message, "details": details or {}}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: every known error in the documented shape."""
    headers: dict[str, str] = {}
    if isinstance(exc, Http404):
        exc = NotFound("resource")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ApiError):
        payload, code = _body(exc.message, exc.details), exc.status_code
    elif isinstance(exc, exceptions.ValidationError):
        payload, code = _body("validation failed", flatten_errors(exc.detail)), 400
    elif isinstance(exc, exceptions.ParseError):
        payload, code = _body(str(exc.detail)), 400
    elif isinstance(exc, exceptions.NotAuthenticated):
        payload, code = _body("authentication required"), 401
    elif isinstance(exc, exceptions.AuthenticationFailed):
        payload, code = _body(str(exc.detail)), 401
    elif isinstance(exc, exceptions.PermissionDenied):
        payload, code = _body("insufficient permissions"), 403
    elif isinstance(exc, exceptions.MethodNotAllowed):
        payload, code = (
            _body("method not allowed", {"method": exc.args[0] if exc.args else ""}),
            405,
        )
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        payload = _body("unsupported media type: Content-Type must be application/json")
        code = 415
    elif isinstance(exc, exceptions.NotAcceptable):
        payload, code = _body("not acceptable: responses are application/json"), 406
    elif isinstance(exc, exceptions.Throttled):
        payload, code = _body("too many requests", {"retry_after": exc.wait}), 429
    elif isinstance(exc, exceptions.APIException):
        payload, code = _body(str(exc.detail)), exc.status_code
    elif isinstance(exc, OperationalError | InterfaceError):
        # The database is restarting, unreachable or locked: not the client's fault, and worth
        # a retry. Logged without the driver's message, which can quote SQL and its values.
        logger.warning("database unavailable", extra={"error": type(exc).__name__})
        payload = _body("service unavailable: the database is not reachable; retry shortly")
        code = 503
        headers["Retry-After"] = "1"
    else:
        return None

    if code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    if isinstance(exc, exceptions.MethodNotAllowed):
        view = context.get("view")
        if view is not None:
            headers["Allow"] = ", ".join(view.allowed_methods)
    set_rollback()
    return Response(payload, status=code, headers=headers)


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(_body("not found", {"path": request.path}), status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_body("internal server error"), status=500)


def json_bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(_body("bad request"), status=400)


def json_permission_denied(request: HttpRequest, exception: Exception | None = None):
    return JsonResponse(_body("insufficient permissions"), status=403)
