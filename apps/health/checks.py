"""Dependency checks for /health and /health/ready. Each returns status, message, duration."""

import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection

Check = Callable[[], str]


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "Connected"


def check_broker() -> str:
    from codeai.celery import app

    timeout = settings.CODEAI_HEALTH_CHECK_TIMEOUT_SECONDS
    with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
        transport = conn.transport_cls
    return f"Connected ({transport})"


def run_check(check: Check) -> dict:
    started = time.perf_counter()
    try:
        message, healthy = check(), True
    except Exception as exc:
        message, healthy = f"{type(exc).__name__}: {exc}"[:500], False
    return {
        "status": "healthy" if healthy else "unhealthy",
        "message": message,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
    }


READINESS_CHECKS: dict[str, Check] = {"database": check_database, "broker": check_broker}


def health_checks() -> dict[str, Check]:
    """All checks /health reports; later features register more here."""
    return dict(READINESS_CHECKS)
