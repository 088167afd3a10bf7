"""Field rules for jobs, shared by the API serializers and the services (for internal callers).

Each function returns the documented message for a bad value, or None.
"""

import math
from typing import Any

from django.conf import settings

from codeai.api.durations import format_duration, parse_duration

from .handlers import get_handler, handler_names
from .schedules import cron_is_valid, timezone_is_valid

DURATION_MESSAGE = "must be a valid duration like 30s, 5m, 1h30m, 2d"
CRON_MESSAGE = "must be a valid cron expression"
TIMEZONE_MESSAGE = "must be a valid IANA time zone"
MAX_RETRIES_LIMIT = 100


def task_type_error(value: Any) -> str | None:
    if isinstance(value, str) and get_handler(value) is not None:
        return None
    return f"must be one of: {' '.join(handler_names())}"


def queue_error(value: Any) -> str | None:
    if isinstance(value, str) and value in settings.CODEAI_QUEUES:
        return None
    return f"must be one of: {' '.join(settings.CODEAI_QUEUES)}"


def max_retries_error(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer"
    if value < 0:
        return "must be at least 0"
    if value > MAX_RETRIES_LIMIT:
        return f"must be at most {MAX_RETRIES_LIMIT}"
    return None


def timeout_error(seconds: Any) -> str | None:
    """For a timeout already in seconds (services); the API parses durations first."""
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        return DURATION_MESSAGE
    if seconds < 1:
        return "must be at least 1s"
    limit = settings.CODEAI_JOB_MAX_TIMEOUT_SECONDS
    if seconds > limit:
        return f"must be at most {format_duration(limit)}"
    return None


def timeout_from_duration(text: Any) -> int:
    """`30s`-style text → whole seconds (rounded up); ValueError carrying the API message."""
    try:
        seconds = math.ceil(parse_duration(text).total_seconds())
    except ValueError:
        raise ValueError(DURATION_MESSAGE) from None
    message = timeout_error(seconds)
    if message:
        raise ValueError(message)
    return seconds


def payload_errors(task_type: str, payload: Any) -> dict[str, str]:
    """The handler's own payload checks, as `payload` / `payload.<field>` errors."""
    handler = get_handler(task_type)
    if handler is None or handler.validate is None:
        return {}
    return {
        f"payload.{name}" if name else "payload": message
        for name, message in handler.validate(payload).items()
    }


def cron_error(value: Any) -> str | None:
    return None if cron_is_valid(value) else CRON_MESSAGE


def timezone_error(value: Any) -> str | None:
    return None if timezone_is_valid(value) else TIMEZONE_MESSAGE


def job_errors(
    *,
    task_type: Any,
    payload: Any,
    queue: Any,
    max_retries: Any,
    timeout: Any,
    metadata: Any,
) -> dict[str, str]:
    """Every error in a job's options (services validate what internal callers pass)."""
    errors: dict[str, str] = {}
    checks = (
        ("task_type", task_type_error(task_type)),
        ("queue", queue_error(queue)),
        ("max_retries", max_retries_error(max_retries)),
        ("timeout", None if timeout is None else timeout_error(timeout)),
        ("metadata", None if isinstance(metadata, dict) else "must be an object"),
    )
    errors.update({name: message for name, message in checks if message})
    if "task_type" not in errors:
        errors.update(payload_errors(task_type, payload))
    return errors
