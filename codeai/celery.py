"""The Celery application; configuration comes from Django settings (CELERY_* names)."""

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery
from django.db import InterfaceError, OperationalError

from codeai import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codeai.settings")
broker.use_for_filesystem_urls()  # before any connection resolves its transport

app = Celery("codeai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# For the tasks that do one row's work (a job attempt, a webhook delivery, a deployment
# execution). When the database is unreachable (a restart, a failover) Celery sends the same
# message again, backoff 1, 2, 4 … 30 s with jitter, for about five minutes, rather than leaving
# the row to a beat sweep minutes later. Each of these tasks does nothing unless its row is due
# for it, and a repeat that finds its own attempt running leaves it alone (job heartbeat, delivery
# lease, execution claimed once). Not workflows.step_run: there a second message with the step's
# id means its worker was lost, so the sweep re-sends a step that never started instead.
RETRY_WHILE_DATABASE_UNREACHABLE = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "max_retries": 14,
}


# --- Celery's soft time limit around database writes -------------------------------------------
# On prefork, the soft time limit and `revoke(terminate=True, signal="SIGUSR1")` raise
# SoftTimeLimitExceeded wherever the task's main thread happens to be. Raised inside a database
# call, it leaves the connection mid-statement ("can't change 'autocommit' now: connection in
# transaction status ACTIVE") and the write undecided. A task that claims, works and records can
# hold the signal for the whole task and let it in only while it waits for the work.

_SOFT_LIMIT_SIGNAL = getattr(signal, "SIGUSR1", None)
_held = threading.local()


def _ignore_soft_limit(signum, frame) -> None:
    """Held: the work the limit or the revoke meant to stop is over or not started; the task's
    own checks (a closed run, a step no longer its own) decide what happens next."""


@contextmanager
def soft_time_limit_held() -> Iterator[None]:
    """Hold the soft time limit (SIGUSR1) in this block; one that arrives is dropped, except
    inside `soft_time_limit_allowed()`. Only the main thread handles signals: elsewhere (thread
    pools) this does nothing."""
    if _SOFT_LIMIT_SIGNAL is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = signal.getsignal(_SOFT_LIMIT_SIGNAL)
    if saved is None:  # a handler installed outside Python: leave it alone
        yield
        return
    signal.signal(_SOFT_LIMIT_SIGNAL, _ignore_soft_limit)
    _held.handler = saved
    try:
        yield
    finally:
        _held.handler = None
        signal.signal(_SOFT_LIMIT_SIGNAL, saved)


@contextmanager
def soft_time_limit_allowed() -> Iterator[None]:
    """Inside `soft_time_limit_held()`: let the soft time limit in here (a wait)."""
    saved = getattr(_held, "handler", None)
    if saved is None:
        yield
        return
    signal.signal(_SOFT_LIMIT_SIGNAL, saved)
    try:
        yield
    finally:
        signal.signal(_SOFT_LIMIT_SIGNAL, _ignore_soft_limit)
