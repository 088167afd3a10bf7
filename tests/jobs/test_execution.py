"""Execution semantics, driven through the services a worker and beat call."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask, PeriodicTasks
from django_celery_beat.schedulers import DatabaseScheduler

from apps.events.models import Event
from apps.jobs import services
from apps.jobs.models import Job
from apps.jobs.services.common import retry_delay
from codeai.api.exceptions import Conflict, ValidationFailed

# Plain transactions (rolled back, nothing published) unless a test needs other threads or
# django-celery-beat's scheduler to see committed rows.
pytestmark = pytest.mark.django_db


def attempt(job: Job) -> Job:
    """Deliver the job's current message once, as a worker would; return the fresh row."""
    current = Job.objects.get(pk=job.pk)
    services.job_run(job_id=current.id, task_id=current.task_id, worker="test")
    return Job.objects.get(pk=job.pk)


def events(job: Job, type: str) -> list[Event]:
    return [
        e
        for e in Event.objects.filter(type=type).order_by("timestamp")
        if e.data["job_id"] == job.id
    ]


# --- Exactly once -------------------------------------------------------------------------------


def test_a_completed_job_never_runs_twice():
    job = services.job_create(task_type="echo", payload=1)
    services.job_run(job_id=job.id, task_id=job.task_id)
    assert services.job_run(job_id=job.id, task_id=job.task_id) is None
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("completed", 1)
    assert len(events(job, "job.started")) == 1
    assert len(events(job, "job.completed")) == 1


def test_a_message_that_is_not_the_jobs_current_one_is_ignored():
    job = services.job_create(task_type="echo")
    assert services.job_run(job_id=job.id, task_id="someone-else") is None
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("pending", 0)


def test_a_message_for_a_cancelled_job_does_nothing():
    job = services.job_create(task_type="echo")
    services.job_cancel(job=job)
    assert services.job_run(job_id=job.id, task_id=job.task_id) is None
    job.refresh_from_db()
    assert (job.status, job.attempts, job.started_at) == ("cancelled", 0, None)


def test_a_message_for_an_unknown_job_does_nothing():
    assert services.job_run(job_id="job-00000000-0000-0000-0000-000000000000", task_id="x") is None


def test_a_message_for_a_recurring_parent_does_nothing():
    parent = services.job_create_recurring(cron_spec="* * * * *", task_type="echo")
    assert services.job_run(job_id=parent.id, task_id=parent.task_id) is None
    parent.refresh_from_db()
    assert (parent.status, parent.attempts) == ("scheduled", 0)


# --- Retries ------------------------------------------------------------------------------------


def test_a_failed_attempt_is_retried_with_a_new_message_after_a_backoff():
    job = services.job_create(task_type="test.fail", payload={"message": "nope"}, max_retries=2)
    first_message = job.task_id
    job = attempt(job)
    assert job.status == "retrying"
    assert (job.attempts, job.error) == (1, "RuntimeError: nope")
    assert job.task_id != first_message
    assert job.next_run_at > job.started_at
    retrying = events(job, "job.retrying")
    assert [(e.data["attempt"], e.data["error"]) for e in retrying] == [(1, "RuntimeError: nope")]
    assert services.job_run(job_id=job.id, task_id=first_message) is None


def test_a_job_fails_after_max_retries_with_its_error():
    job = services.job_create(task_type="test.fail", payload={"message": "nope"}, max_retries=2)
    for _ in range(3):
        job = attempt(job)
    assert (job.status, job.attempts, job.error) == ("failed", 3, "RuntimeError: nope")
    assert job.failed_at is not None
    assert len(events(job, "job.retrying")) == 2
    assert events(job, "job.failed")[0].data["error"] == "RuntimeError: nope"
    assert attempt(job).attempts == 3


def test_max_retries_zero_means_one_attempt():
    job = attempt(services.job_create(task_type="test.fail", max_retries=0))
    assert (job.status, job.attempts) == ("failed", 1)
    assert events(job, "job.retrying") == []


def test_a_retry_that_succeeds_completes_the_job_and_clears_the_error():
    job = services.job_create(task_type="tests.jobs.handlers.flaky", payload={"succeed_on": 2})
    job = attempt(attempt(job))
    assert (job.status, job.attempts, job.error) == ("completed", 2, "")
    assert job.result == {"attempt": 2}


def test_retry_delays_grow_exponentially_with_jitter(settings):
    settings.CODEAI_JOB_RETRY_BASE_SECONDS = 2
    settings.CODEAI_JOB_RETRY_MAX_SECONDS = 600
    for attempt_number, expected in ((1, 2), (2, 4), (3, 8), (6, 64)):
        delays = {retry_delay(attempt_number) for _ in range(20)}
        assert all(0.8 * expected <= d <= 1.2 * expected for d in delays)
        assert len(delays) > 1
    assert retry_delay(30) <= 600


# --- Timeouts -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_attempt_over_its_timeout_fails_with_a_timeout_error():
    job = services.job_create(
        task_type="test.sleep", payload={"seconds": 5}, timeout=1, max_retries=0
    )
    job = attempt(job)
    assert (job.status, job.error) == ("failed", "timed out after 1s")


# --- Lost workers ---------------------------------------------------------------------------------


def _running(job: Job, *, heartbeat_age: float, started_age: float = 0) -> Job:
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        status="running",
        attempts=1,
        worker="celery@gone",
        started_at=now - timedelta(seconds=started_age),
        heartbeat_at=now - timedelta(seconds=heartbeat_age),
    )
    return Job.objects.get(pk=job.pk)


def test_a_redelivered_message_for_a_running_job_with_a_fresh_heartbeat_is_ignored():
    job = _running(services.job_create(task_type="echo"), heartbeat_age=1)
    assert services.job_run(job_id=job.id, task_id=job.task_id) is None
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("running", 1)


def test_a_redelivered_message_whose_worker_is_gone_schedules_a_retry():
    job = _running(services.job_create(task_type="echo"), heartbeat_age=60)
    assert services.job_run(job_id=job.id, task_id=job.task_id) is None
    job.refresh_from_db()
    assert job.status == "retrying"
    assert job.error == "worker celery@gone was lost during attempt 1"
    job = attempt(job)
    assert (job.status, job.attempts) == ("completed", 2)


def test_the_sweep_recovers_a_running_job_whose_heartbeat_stopped():
    job = _running(services.job_create(task_type="echo"), heartbeat_age=60)
    assert services.jobs_sweep()["recovered"] == 1
    job.refresh_from_db()
    assert (job.status, job.error) == ("retrying", "worker celery@gone was lost during attempt 1")


def test_the_sweep_records_a_timeout_for_a_lost_attempt_past_its_deadline():
    job = services.job_create(task_type="echo", timeout=10, max_retries=0)
    job = _running(job, heartbeat_age=60, started_age=60)
    services.jobs_sweep()
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "timed out after 10s")


def test_the_sweep_leaves_running_jobs_with_a_fresh_heartbeat_alone():
    job = _running(services.job_create(task_type="echo"), heartbeat_age=1)
    assert services.jobs_sweep()["recovered"] == 0
    assert Job.objects.get(pk=job.pk).status == "running"


def test_the_sweep_publishes_jobs_whose_message_was_never_sent():
    job = services.job_create(task_type="echo")
    Job.objects.filter(pk=job.pk).update(enqueued_at=None)
    assert services.jobs_sweep()["published"] == 1
    assert Job.objects.get(pk=job.pk).enqueued_at is not None
    assert services.jobs_sweep()["published"] == 0


def test_the_sweep_publishes_a_far_future_job_once_it_enters_the_horizon(settings):
    settings.CODEAI_JOB_ETA_HORIZON_SECONDS = 60
    job = services.job_schedule(
        task_type="echo", schedule_at=timezone.now() + timedelta(seconds=120)
    )
    assert job.enqueued_at is None
    assert services.jobs_sweep()["published"] == 0
    settings.CODEAI_JOB_ETA_HORIZON_SECONDS = 180
    assert services.jobs_sweep()["published"] == 1


def test_the_sweep_republishes_a_job_whose_message_was_lost(settings):
    job = services.job_create(task_type="echo")
    long_ago = timezone.now() - timedelta(seconds=settings.CODEAI_JOB_REQUEUE_AFTER_SECONDS + 5)
    Job.objects.filter(pk=job.pk).update(enqueued_at=long_ago)
    assert services.jobs_sweep()["republished"] == 1
    assert Job.objects.get(pk=job.pk).enqueued_at > long_ago


# --- Cancellation ---------------------------------------------------------------------------------


def test_cancelling_a_running_job_discards_its_outcome():
    job = _running(services.job_create(task_type="echo"), heartbeat_age=0)
    services.job_cancel(job=job)
    from apps.jobs.services.execution import Outcome, _finish

    _finish(job=job, task_id=job.task_id, outcome=Outcome(ok=True, result=1))
    job.refresh_from_db()
    assert (job.status, job.result, job.completed_at) == ("cancelled", None, None)
    assert events(job, "job.cancelled")[0].data["previous_status"] == "running"


def test_cancelling_a_finished_job_is_a_conflict():
    job = attempt(services.job_create(task_type="echo"))
    with pytest.raises(Conflict):
        services.job_cancel(job=job)


# --- Recurring jobs -------------------------------------------------------------------------------


def test_a_firing_creates_one_child_run_and_publishes_it():
    parent = services.job_create_recurring(
        cron_spec="* * * * *", task_type="echo", payload={"p": 1}, queue="low", max_retries=1
    )
    child = services.job_fire_recurring(job_id=parent.id)
    assert (child.parent_id, child.status, child.payload) == (parent.id, "pending", {"p": 1})
    assert (child.queue, child.max_retries, child.cron_spec) == ("low", 1, "")
    parent.refresh_from_db()
    assert parent.last_run_at is not None
    assert parent.next_run_at > parent.last_run_at
    assert attempt(child).status == "completed"


def test_a_second_firing_in_the_same_slot_creates_nothing():
    parent = services.job_create_recurring(cron_spec="* * * * *", task_type="echo")
    assert services.job_fire_recurring(job_id=parent.id) is not None
    assert services.job_fire_recurring(job_id=parent.id) is None
    assert parent.runs.count() == 1


def test_slots_missed_while_beat_was_down_produce_one_run():
    parent = services.job_create_recurring(cron_spec="* * * * *", task_type="echo")
    Job.objects.filter(pk=parent.pk).update(last_run_at=timezone.now() - timedelta(minutes=30))
    fired = [services.job_fire_recurring(job_id=parent.id) for _ in range(5)]
    assert len([child for child in fired if child is not None]) == 1


def test_a_firing_after_cancellation_creates_nothing():
    parent = services.job_create_recurring(cron_spec="* * * * *", task_type="echo")
    services.job_cancel(job=parent)
    assert services.job_fire_recurring(job_id=parent.id) is None
    assert parent.runs.count() == 0


@pytest.mark.django_db(transaction=True)
def test_rescheduling_updates_the_periodic_task_and_beat_notices_without_restart():
    from codeai.celery import app

    # Hour "*": django-celery-beat only loads crontabs whose hour is near the current one.
    parent = services.job_create_recurring(cron_spec="5 * * * *", task_type="echo")
    scheduler = DatabaseScheduler(app=app)
    entry = scheduler.schedule[f"job {parent.id}"]
    assert entry.schedule.minute == {5}
    before = PeriodicTasks.last_change()
    services.job_reschedule_recurring(job=parent, cron_spec="30 * * * 1-5", timezone="Asia/Tokyo")
    assert PeriodicTasks.last_change() > before
    entry = scheduler.schedule[f"job {parent.id}"]
    assert (entry.schedule.minute, entry.schedule.day_of_week) == ({30}, {1, 2, 3, 4, 5})
    assert str(entry.schedule.tz) == "Asia/Tokyo"
    parent.refresh_from_db()
    assert (parent.cron_spec, parent.timezone) == ("30 * * * 1-5", "Asia/Tokyo")


def test_rescheduling_validates_the_cron_spec():
    parent = services.job_create_recurring(cron_spec="0 2 * * *", task_type="echo")
    with pytest.raises(ValidationFailed) as caught:
        services.job_reschedule_recurring(job=parent, cron_spec="nope")
    assert caught.value.details == {"cron_spec": "must be a valid cron expression"}


# --- Owned jobs (for the deployments / workflows features) --------------------------------------


def test_replacing_an_owners_recurring_jobs_swaps_them_atomically():
    owner = "deployment:1"
    old = services.job_create_recurring(cron_spec="0 * * * *", task_type="echo", owner=owner)
    other = services.job_create_recurring(cron_spec="0 * * * *", task_type="echo", owner="x")
    created = services.jobs_replace_recurring_for_owner(
        owner=owner,
        recurring=[
            {"cron_spec": "*/5 * * * *", "task_type": "echo"},
            {"cron_spec": "@daily", "task_type": "cleanup", "timezone": "Europe/Paris"},
        ],
    )
    assert [job.cron_spec for job in created] == ["*/5 * * * *", "@daily"]
    assert all(job.owner == owner for job in created)
    assert Job.objects.get(pk=old.pk).status == "cancelled"
    assert not PeriodicTask.objects.filter(pk=old.periodic_task_id).exists()
    assert Job.objects.get(pk=other.pk).status == "scheduled"


def test_an_invalid_replacement_changes_nothing():
    owner = "deployment:2"
    old = services.job_create_recurring(cron_spec="0 * * * *", task_type="echo", owner=owner)
    with pytest.raises(ValidationFailed) as caught:
        services.jobs_replace_recurring_for_owner(
            owner=owner,
            recurring=[
                {"cron_spec": "0 * * * *", "task_type": "echo"},
                {"cron_spec": "bad", "task_type": "echo"},
            ],
        )
    assert caught.value.details == {"recurring.1.cron_spec": "must be a valid cron expression"}
    assert Job.objects.get(pk=old.pk).status == "scheduled"
    assert Job.objects.filter(owner=owner).count() == 1


def test_removing_an_owners_jobs_cancels_all_of_them():
    owner = "deployment:3"
    recurring = services.job_create_recurring(cron_spec="0 * * * *", task_type="echo", owner=owner)
    pending = services.job_create(task_type="echo", owner=owner)
    finished = attempt(services.job_create(task_type="echo", owner=owner))
    assert services.jobs_remove_for_owner(owner=owner) == 2
    statuses = dict(Job.objects.filter(owner=owner).values_list("id", "status"))
    assert statuses == {
        recurring.id: "cancelled",
        pending.id: "cancelled",
        finished.id: "completed",
    }
    assert not PeriodicTask.objects.filter(pk=recurring.periodic_task_id).exists()


# --- Celery's soft time limit (SIGUSR1: the time limit, a cancel's revoke) ---------------------


@pytest.fixture
def inline_handlers(monkeypatch):
    """Handlers run in the task's own thread, as on a prefork pool (which enforces limits)."""
    from apps.jobs.services import execution

    monkeypatch.setattr(execution, "_pool_enforces_time_limits", True)


def test_a_soft_time_limit_arriving_while_a_job_is_recorded_does_not_interrupt_it(
    inline_handlers, soft_time_limit_signal, monkeypatch
):
    from apps.jobs.services import execution

    record = execution.job_event_with

    def record_after_the_signal(type, **kwargs):
        if type == "job.completed":
            soft_time_limit_signal()
        return record(type, **kwargs)

    monkeypatch.setattr(execution, "job_event_with", record_after_the_signal)
    job = services.job_create(task_type="echo", payload={"v": 1})

    done = attempt(job)

    assert (done.status, done.result) == ("completed", {"v": 1})


def test_a_soft_time_limit_still_stops_an_inline_handler(inline_handlers, soft_time_limit_signal):
    job = services.job_create(task_type="test.sleep", payload={"seconds": 5}, max_retries=0)
    timer = threading.Timer(0.3, soft_time_limit_signal)
    timer.start()

    done = attempt(job)

    assert done.status == "failed"
    assert "timed out" in done.error
