"""The periodic tasks of events and webhooks are scheduled and registered."""

import pytest
from django.conf import settings

from codeai.celery import app

OURS = ["events.outbox_sweep", "events.count_roll_up", "events.prune"]
OURS += ["webhooks.sweep", "webhooks.prune"]


@pytest.mark.parametrize("task", OURS)
def test_beat_schedules_the_task(task):
    assert task in {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}


@pytest.mark.parametrize("task", OURS)
def test_scheduled_task_is_registered(task):
    app.loader.import_default_modules()
    assert task in app.tasks
