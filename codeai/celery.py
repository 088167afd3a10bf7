"""The Celery application; configuration comes from Django settings (CELERY_* names)."""

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from celery import Celery
from django.db import InterfaceError, OperationalError, connection

from codeai import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codeai.settings")
broker.use_for_filesystem_urls()  # before any connection resolves its transport

logger = logging.getLogger(__name__)
T = TypeVar("T")

app = Celery("codeai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# For the tasks that do one row's work (a job attempt, a webhook delivery, a deployment
# execution). When the database is unreachable (a restart, a failover) Celery sends the same
# message again, backoff 1, 2, 4 … 30 s with jitter, for about five minutes, rather than leaving
# the row to a beat sweep minutes later. Each of these tasks does nothing unless its row is due
# for it, and a repeat that finds its own attempt running leaves it alone (job heartbeat, delivery
# lease, execution claimed once). Not workflows.step_run: there a second message with the step's
# id means its worker was lost; it tries its claim and its outcome's write again in the task
# (`call_while_database_unreachable`).
RETRY_WHILE_DATABASE_UNREACHABLE = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "max_retries": 14,
}


def call_while_database_unreachable(call: Callable[[], T], *, seconds: float = 300.0) -> T:
    """`call()`, called again while the database is unreachable (backoff 1, 2, 4 … 30 s, for
    about `seconds`), the connection replaced in between. For a task whose work so far lives
    only in its memory (a workflow step's outcome): failing the task would lose it, and the
    same message again would run the work again. `call` must be safe to repeat after a failure
    whose commit may or may not have happened. Outside any transaction only."""
    delay, deadline = 1.0, time.monotonic() + seconds
    while True:
        try:
            return call()
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            logger.warning("database unreachable, trying again in %.0f s: %s", delay, exc)
            connection.close_if_unusable_or_obsolete()
            time.sleep(delay)
            delay = min(delay * 2, 30.0)


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
