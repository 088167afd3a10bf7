"""`http.request`: one real HTTP request through the SSRF guard (apps.webhooks.ssrf).

Payload: `url` (required), `method` (default GET), `headers` (object of strings), `body` (a
string) or `json` (any JSON; sent as application/json), `timeout` (a duration like `10s` or a
number of seconds; default 30 s, never past the job's own timeout) and `expect_status` (a status
code or a list of them; default: any 2xx). Another status fails the attempt: a 4xx other than
408/425/429 fails the job at once (retrying cannot fix it), anything else is retried.
Redirects are not followed (a 3xx is a status like any other).
"""

import contextlib
import json
from typing import Any

import requests
from django.conf import settings

from apps.webhooks.ssrf import InvalidURLError, UnsafeURLError, parse_http_url, safe_request
from codeai.api.durations import format_duration, parse_duration

from .base import JobContext, JobError, JobTimeout, PermanentJobError

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_TIMEOUT_SECONDS = 30.0
BODY_EXCERPT_BYTES = 64 * 1024
ERROR_EXCERPT_CHARS = 200
RETRYABLE_CLIENT_ERRORS = frozenset({408, 425, 429})
RESULT_HEADERS = (
    "content-type",
    "content-length",
    "content-encoding",
    "content-language",
    "cache-control",
    "etag",
    "last-modified",
    "location",
    "retry-after",
    "date",
)
PAYLOAD_FIELDS = frozenset({"url", "method", "headers", "body", "json", "timeout", "expect_status"})
DURATION_MESSAGE = "must be a valid duration like 30s, 5m, 1h30m, 2d"


def _timeout_seconds(value: Any) -> float | None:
    """Seconds from `10s`-style text or a positive number; None when invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if 0 < value <= 86400 else None
    try:
        return parse_duration(value).total_seconds()
    except ValueError:
        return None


def _status_codes(value: Any) -> list[int] | None:
    items = value if isinstance(value, list) else [value]
    if not items or not all(
        isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599
        for code in items
    ):
        return None
    return items


def validate_payload(payload: Any) -> dict[str, str]:
    """Field errors, keyed relative to the payload ("" is the payload itself)."""
    if not isinstance(payload, dict):
        return {"": "must be an object"}
    errors: dict[str, str] = {}
    for name in sorted(set(payload) - PAYLOAD_FIELDS):
        errors[name] = "unknown field"
    if "url" not in payload:
        errors["url"] = "is required"
    else:
        try:
            parse_http_url(payload["url"])
        except InvalidURLError:
            errors["url"] = "must be a valid URL"
    method = payload.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in METHODS:
        errors["method"] = f"must be one of: {' '.join(METHODS)}"
    headers = payload.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        errors["headers"] = "must be an object of strings"
    if "body" in payload:
        if not isinstance(payload["body"], str):
            errors["body"] = "must be a string"
        elif "json" in payload:
            errors["body"] = "must not be given together with json"
    if "timeout" in payload and _timeout_seconds(payload["timeout"]) is None:
        errors["timeout"] = DURATION_MESSAGE
    if "expect_status" in payload and _status_codes(payload["expect_status"]) is None:
        errors["expect_status"] = "must be a status code or a list of status codes"
    return errors


def _read_excerpt(response: requests.Response) -> tuple[str, bool]:
    """At most BODY_EXCERPT_BYTES of the (decoded) body; the rest is never downloaded."""
    try:
        data = response.raw.read(BODY_EXCERPT_BYTES + 1, decode_content=True) or b""
    finally:
        response.close()
    truncated = len(data) > BODY_EXCERPT_BYTES
    text = data[:BODY_EXCERPT_BYTES].decode(response.encoding or "utf-8", errors="replace")
    return text, truncated


def http_request(payload: Any, context: JobContext) -> dict[str, Any]:
    errors = validate_payload(payload)
    if errors:
        detail = "; ".join(f"{k or 'payload'}: {v}" for k, v in sorted(errors.items()))
        raise PermanentJobError(f"invalid payload: {detail}")
    url: str = payload["url"]
    method = str(payload.get("method", "GET")).upper()
    requested = _timeout_seconds(payload.get("timeout", DEFAULT_TIMEOUT_SECONDS))
    remaining = context.remaining()
    timeout = min(requested or DEFAULT_TIMEOUT_SECONDS, remaining)
    if timeout <= 0:
        raise JobTimeout("timed out")
    kwargs: dict[str, Any] = {
        "headers": payload.get("headers") or {},
        "timeout": timeout,
        "stream": True,
    }
    if "json" in payload:
        kwargs["json"] = payload["json"]
    elif "body" in payload:
        kwargs["data"] = payload["body"].encode("utf-8")
    try:
        response = safe_request(
            method, url, allow_private=settings.CODEAI_JOB_HTTP_ALLOW_PRIVATE_URLS, **kwargs
        )
    except UnsafeURLError as exc:
        raise PermanentJobError(f"url {exc}") from None
    except requests.Timeout:
        if timeout >= remaining:
            raise JobTimeout("timed out") from None
        raise JobError(f"{method} {url} timed out after {format_duration(timeout)}") from None
    except requests.RequestException as exc:
        raise JobError(f"{method} {url} failed: {type(exc).__name__}: {exc}") from None

    body, truncated = _read_excerpt(response)
    expected = _status_codes(payload.get("expect_status", [])) if "expect_status" in payload else []
    accepted = response.status_code in expected if expected else 200 <= response.status_code < 300
    if not accepted:
        message = f"{method} {url} returned HTTP {response.status_code} {response.reason or ''}"
        excerpt = body[:ERROR_EXCERPT_CHARS].strip()
        message = f"{message.strip()}: {excerpt}" if excerpt else message.strip()
        status = response.status_code
        if 400 <= status < 500 and status not in RETRYABLE_CLIENT_ERRORS:
            raise PermanentJobError(message)
        raise JobError(message)

    result: dict[str, Any] = {
        "status": response.status_code,
        "headers": {
            name: response.headers[name] for name in RESULT_HEADERS if name in response.headers
        },
        "body": body,
        "truncated": truncated,
        "elapsed_ms": round(response.elapsed.total_seconds() * 1000, 1),
    }
    if not truncated and "json" in response.headers.get("content-type", ""):
        with contextlib.suppress(ValueError):
            result["json"] = json.loads(body)
    return result
