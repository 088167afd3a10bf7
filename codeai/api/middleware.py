"""Request-wide conventions: X-Request-ID on every response and log line, the body size limit."""

import logging
import re
import time
import uuid

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.health.metrics import record_request

from .logging import request_id_var

logger = logging.getLogger("codeai.request")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIDMiddleware:
    """Echo a well-formed client X-Request-ID or generate one; log one line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _VALID_REQUEST_ID.match(supplied) else str(uuid.uuid4())
        request.request_id = request_id
        # Not reset on the way out: Django logs 5xx responses after the middleware chain returns,
        # and those lines must carry the id too. The next request on this thread overwrites it.
        request_id_var.set(request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        match = getattr(request, "resolver_match", None)
        record_request(
            route=(match.view_name if match else None) or "unmatched",
            method=request.method,
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return response


class BodySizeLimitMiddleware:
    """Refuse bodies over CODEAI_MAX_BODY_BYTES with 413 before anything reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(
                {"error": "invalid Content-Length header", "details": {}}, status=400
            )
        limit = settings.CODEAI_MAX_BODY_BYTES
        if length > limit:
            return JsonResponse(
                {"error": "request body too large", "details": {"max_bytes": limit}}, status=413
            )
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """A database outage (restart, failover) answers 503 with Retry-After on every page, the admin
    included, rather than 500. The API's exception handler already answers it in the JSON error
    format; this covers the views outside DRF."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        # Without the driver's message, which can quote SQL and its values.
        logger.warning("database unavailable", extra={"error": type(exception).__name__})
        response = HttpResponse(
            "Service unavailable: the database is not reachable; retry shortly.\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = "1"
        return response
