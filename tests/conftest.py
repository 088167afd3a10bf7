"""Shared fixtures: an HTTP client and credentials for each role."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from apps.accounts.services import api_key_create, token_issue


def bearer(role: str | None, *, ttl: timedelta = timedelta(hours=1), subject: str = "tester"):
    roles = [role] if role else []
    return {"HTTP_AUTHORIZATION": f"Bearer {token_issue(subject=subject, roles=roles, ttl=ttl)}"}


@pytest.fixture(autouse=True)
def _fresh_subscription_snapshot():
    """Each test starts without a cached view of webhook subscriptions (the database rolls back
    between tests; the per-process snapshot would not)."""
    from apps.webhooks.services.subscriptions import subscriptions_changed

    subscriptions_changed(widened=False)


@pytest.fixture
def client() -> APIClient:
    """An unauthenticated client."""
    return APIClient()


def _client_with(headers: dict) -> APIClient:
    api = APIClient()
    api.credentials(**headers)
    return api


@pytest.fixture
def viewer(db) -> APIClient:
    return _client_with(bearer("viewer"))


@pytest.fixture
def editor(db) -> APIClient:
    return _client_with(bearer("editor"))


@pytest.fixture
def admin(db) -> APIClient:
    return _client_with(bearer("admin"))


@pytest.fixture
def api_key_client(db):
    """A factory: api_key_client("viewer") is a client authenticated by a fresh X-API-Key."""

    def make(role: str) -> APIClient:
        _, raw_key = api_key_create(name=f"test-{role}", role=role)
        return _client_with({"HTTP_X_API_KEY": raw_key})

    return make


@pytest.fixture
def operator(db):
    """A browser logged in to the Django admin as a superuser."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def database_down(monkeypatch):
    """Every query fails the way it does while PostgreSQL restarts."""
    from django.db import OperationalError
    from django.db.backends import utils

    def refuse(*args, **kwargs):
        raise OperationalError("terminating connection due to administrator command")

    with monkeypatch.context() as patch:  # undone before the test database is cleaned up
        patch.setattr(utils.CursorWrapper, "execute", refuse)
        yield


@pytest.fixture
def database_unreachable_once(monkeypatch):
    """database_unreachable_once(module, "name", mine): the first call of `module.name` for which
    `mine(kwargs)` holds raises OperationalError, as while PostgreSQL restarts; later calls go
    through. Returns the keyword arguments of those calls. `mine` keeps messages that earlier
    tests left in the broker out of it."""
    from django.db import OperationalError

    def patch(module, name: str, mine) -> list[dict]:
        real, calls = getattr(module, name), []

        def first_call_fails(**kwargs):
            if mine(kwargs):
                calls.append(kwargs)
                if len(calls) == 1:
                    raise OperationalError("terminating connection due to administrator command")
            return real(**kwargs)

        monkeypatch.setattr(module, name, first_call_fails)
        return calls

    return patch


@pytest.fixture
def live_worker(transactional_db):
    """A real Celery worker (in a thread) consuming every configured queue on the real broker.

    Tests using it see committed rows only, hence `transactional_db`.
    """
    from celery.contrib.testing.worker import start_worker

    from codeai.celery import app

    with start_worker(
        app,
        pool="threads",
        concurrency=4,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ):
        yield app
        _wake_to_stop(app)
    _join_activity_threads(seconds=10)


def _wake_to_stop(app) -> None:
    """Ask the worker thread to stop, and end its broker reads early with no-op messages.

    Its loop checks for shutdown between reads, and reads once more after deciding to stop;
    an idle read only returns after 2 s. A message left unread is a no-op for the next worker.
    """
    from celery.worker import state

    state.should_terminate = 0
    try:
        for _ in range(2):
            app.send_task("events.dispatch", args=["evt-none"], ignore_result=True)
    except Exception:  # the broker is gone (a test stopped it): the 2 s reads will do
        pass


# Threads the jobs and workflows engines start to run one handler or step on a threads pool.
_ACTIVITY_THREAD_PREFIXES = ("job-", "workflow-step-")


def _join_activity_threads(*, seconds: float) -> None:
    """Let handler and step threads the worker left behind finish (bounded): one still inside a
    transaction when the test database is flushed can deadlock the flush on PostgreSQL."""
    import threading
    import time

    deadline = time.monotonic() + seconds
    for thread in threading.enumerate():
        if thread.name.startswith(_ACTIVITY_THREAD_PREFIXES):
            thread.join(max(0.0, deadline - time.monotonic()))


@pytest.fixture
def soft_time_limit_signal():
    """SIGUSR1 raises SoftTimeLimitExceeded, as in a prefork pool process (Celery's soft time
    limit, or a revoke with that signal); the fixture's value sends it to this process."""
    import os
    import signal

    from celery.exceptions import SoftTimeLimitExceeded

    def raise_soft_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGUSR1, raise_soft_limit)
    yield lambda: os.kill(os.getpid(), signal.SIGUSR1)
    signal.signal(signal.SIGUSR1, previous)
