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


def check_workers() -> str:
    """At least one Celery worker answers a broadcast ping within the timeout."""
    from apps.jobs.services import workers_ping

    timeout = settings.CODEAI_HEALTH_CHECK_TIMEOUT_SECONDS
    names = workers_ping(timeout=timeout)
    if not names:
        raise RuntimeError(f"no worker answered a ping within {timeout}s")
    return f"{names[0]} answered"


def check_scheduler() -> str:
    """Beat's heartbeat task (every CODEAI_SCHEDULER_HEARTBEAT_SECONDS) ran recently."""
    from apps.jobs.services import scheduler_heartbeat_age

    interval = settings.CODEAI_SCHEDULER_HEARTBEAT_SECONDS
    age = scheduler_heartbeat_age()
    if age is None:
        raise RuntimeError("no scheduler heartbeat recorded yet; is beat running?")
    if age > 2 * interval:
        raise RuntimeError(f"last scheduler heartbeat {age:.0f}s ago (expected every {interval}s)")
    return f"Heartbeat {age:.1f}s ago"


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
    return {**READINESS_CHECKS, "workers": check_workers, "scheduler": check_scheduler}
