"""The Celery application; configuration comes from Django settings (CELERY_* names)."""

import os

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
