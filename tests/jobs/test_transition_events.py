"""A job's submission, claim and completion write their event in one statement with the change
(emit_returning) on PostgreSQL when no webhook subscribes to it, and through emit() otherwise.
The events must not depend on which way was taken."""

import pytest
from django.db import connection
from django.utils import timezone

from apps.events.models import Event
from apps.jobs import services
from apps.jobs.models import Job
from apps.webhooks.models import Delivery
from apps.webhooks.services import webhook_create
from apps.webhooks.services.subscriptions import subscriptions_changed

pytestmark = pytest.mark.django_db

JOB_EVENTS = ("job.enqueued", "job.started", "job.completed")


@pytest.fixture
def subscriber(settings):
    settings.CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS = True
    webhook, _ = webhook_create(url="http://127.0.0.1:9/hook", events=list(JOB_EVENTS))
    return webhook


def run(job: Job) -> Job:
    current = Job.objects.get(pk=job.pk)
    services.job_run(job_id=current.id, task_id=current.task_id, worker="test")
    return Job.objects.get(pk=job.pk)


def job_events(job: Job) -> dict[str, tuple[dict, dict, str]]:
    rows = Event.objects.filter(data__job_id=job.id)
    return {e.type: (e.data, e.metadata, e.source) for e in rows}


def without_ids(events: dict, job: Job) -> dict:
    """The events with this job's own id (and its parent's) blanked, to compare two jobs."""
    result = {}
    for type, (data, metadata, source) in events.items():
        data = {k: ("<id>" if k in ("job_id", "parent_id") else v) for k, v in data.items()}
        result[type] = (data, metadata, source)
    return result


def an_echo_job() -> Job:
    return services.job_create(
        task_type="echo",
        payload={"text": "héllo"},
        metadata={"team": "payments", "nested": {"a": [1, 2]}},
        owner="deployment:dep-1",
    )


def test_a_jobs_events_are_the_same_with_and_without_a_webhook_subscriber(subscriber):
    subscribed = run(an_echo_job())
    subscriber.active = False
    subscriber.save()
    subscriptions_changed(widened=False)
    unsubscribed = run(an_echo_job())

    assert (subscribed.status, unsubscribed.status) == ("completed", "completed")
    first, second = job_events(subscribed), job_events(unsubscribed)
    assert sorted(first) == sorted(second) == sorted(JOB_EVENTS)
    assert without_ids(first, subscribed) == without_ids(second, unsubscribed)
    assert first["job.started"][0] == {
        "job_id": subscribed.id,
        "task_type": "echo",
        "queue": "default",
        "status": "running",
        "owner": "deployment:dep-1",
        "attempt": 1,
    }
    assert first["job.completed"][1] == {"team": "payments", "nested": {"a": [1, 2]}}


def test_a_subscribed_jobs_events_each_get_a_delivery(subscriber):
    job = run(an_echo_job())
    delivered = Delivery.objects.filter(webhook=subscriber).values_list("event_type", flat=True)
    assert sorted(delivered) == sorted(JOB_EVENTS)
    assert job.status == "completed"


def test_a_recurring_jobs_run_names_its_parent_in_its_events():
    parent = services.job_create_recurring(cron_spec="* * * * *", task_type="echo")
    child = services.job_fire_recurring(job_id=parent.id)
    run(child)
    events = job_events(child)
    assert {events[type][0].get("parent_id") for type in JOB_EVENTS} == {parent.id}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement form")
def test_a_completed_job_and_its_events_are_written_in_one_statement_each(
    django_assert_num_queries,
):
    job = an_echo_job()
    with django_assert_num_queries(2):  # the claim and the completion, with their events
        run_started = timezone.now()
        services.job_run(job_id=job.id, task_id=job.task_id, worker="test")
    job.refresh_from_db()
    assert job.status == "completed"
    assert job.started_at >= run_started
    assert job.result == {"text": "héllo"}


def test_a_job_with_no_result_stores_null():
    job = services.job_create(task_type="echo")
    assert run(job).result is None
