"""Jobs on a real Celery worker (a thread in this process) and the real broker; beat's firing
is driven through django-celery-beat's own DatabaseScheduler."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from apps.events.models import Event
from apps.jobs.models import Job
from tests.jobs.support import wait_for

pytestmark = pytest.mark.integration

FINISHED = ("completed", "failed", "cancelled")


def submit(api, path="/jobs", **body) -> str:
    response = api.post(path, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def finished(job_id: str, seconds: float = 20) -> Job:
    return wait_for(
        lambda: (job := Job.objects.get(pk=job_id)).status in FINISHED and job, seconds=seconds
    )


def event_types(job_id: str) -> list[str]:
    rows = Event.objects.filter(type__startswith="job.").order_by("timestamp", "id")
    return [e.type for e in rows if e.data.get("job_id") == job_id]


def test_a_job_completes_on_a_worker_with_its_result(live_worker, editor):
    job_id = submit(editor, task_type="echo", payload={"hello": "world"})
    finished(job_id)
    body = editor.get(f"/jobs/{job_id}").json()
    assert (body["status"], body["result"], body["attempts"]) == (
        "completed",
        {"hello": "world"},
        1,
    )
    assert body["started_at"] <= body["completed_at"]
    assert event_types(job_id) == ["job.enqueued", "job.started", "job.completed"]


def test_a_failing_job_is_retried_max_retries_times_then_fails_with_its_error(live_worker, editor):
    job_id = submit(editor, task_type="test.fail", payload={"message": "kaput"}, max_retries=2)
    job = finished(job_id)
    assert (job.status, job.attempts, job.error) == ("failed", 3, "RuntimeError: kaput")
    assert event_types(job_id) == [
        "job.enqueued",
        "job.started",
        "job.retrying",
        "job.started",
        "job.retrying",
        "job.started",
        "job.failed",
    ]


def test_a_message_that_finds_the_database_unreachable_runs_again_shortly(
    live_worker, editor, database_unreachable_once
):
    from apps.jobs import services

    probe = {"probe": "database unreachable once"}
    calls = database_unreachable_once(
        services,
        "job_run",
        lambda call: Job.objects.filter(pk=call["job_id"], payload=probe).exists(),
    )
    job_id = submit(editor, task_type="echo", payload=probe)
    job = finished(job_id, seconds=10)
    assert (job.status, job.attempts, job.result) == ("completed", 1, probe)
    assert [call["task_id"] for call in calls] == [job.task_id, job.task_id]


def test_a_thread_pool_worker_runs_handlers_in_a_helper_thread(live_worker, editor):
    job = finished(submit(editor, task_type="test.where"))
    assert job.result == {"thread": f"job-{job.id}"}


def test_a_job_over_its_timeout_fails_with_a_timeout_error(live_worker, editor):
    job_id = submit(
        editor, task_type="test.sleep", payload={"seconds": 10}, timeout="1s", max_retries=0
    )
    job = finished(job_id, seconds=8)
    assert (job.status, job.error) == ("failed", "timed out after 1s")
    assert job.failed_at - job.started_at < timedelta(seconds=3)


def test_a_scheduled_job_starts_within_a_second_of_its_time(live_worker, editor):
    at = datetime.now(UTC) + timedelta(seconds=2)
    job_id = submit(
        editor,
        "/jobs/schedule",
        task_type="echo",
        schedule_at=at.isoformat().replace("+00:00", "Z"),
    )
    assert Job.objects.get(pk=job_id).status == "scheduled"
    job = finished(job_id)
    assert job.status == "completed"
    assert job.scheduled_at <= job.started_at < job.scheduled_at + timedelta(seconds=1)


def test_a_running_attempt_keeps_its_heartbeat_fresh(live_worker, editor):
    job_id = submit(editor, task_type="test.sleep", payload={"seconds": 1})
    wait_for(
        lambda: Job.objects.filter(
            pk=job_id, status="running", heartbeat_at__gt=F("started_at")
        ).exists()
    )
    assert finished(job_id).heartbeat_at is None


def test_cancelling_a_running_job_stops_it(live_worker, editor, tmp_path):
    marker = tmp_path / "nap"
    job_id = submit(editor, task_type="test.nap", payload={"seconds": 30, "path": str(marker)})
    wait_for(lambda: Job.objects.get(pk=job_id).status == "running")
    assert editor.delete(f"/jobs/{job_id}").status_code == 204
    wait_for(marker.exists, seconds=5)
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.completed_at, job.failed_at, job.result) == (
        "cancelled",
        None,
        None,
        None,
    )
    assert "job.completed" not in event_types(job_id)
    assert "job.failed" not in event_types(job_id)


# --- Recurring jobs with beat's scheduler ---------------------------------------------------------


def beat_fires(app, name: str) -> bool:
    """One pass of beat for one entry, with django-celery-beat's own code: if the entry is due,
    reserve it (advances last_run_at) and send its task, then persist the schedule state."""
    scheduler = DatabaseScheduler(app=app)
    entry = scheduler.schedule.get(name)
    if entry is None or not entry.is_due().is_due:
        return False
    scheduler.reserve(entry)
    scheduler.apply_entry(entry, producer=scheduler.producer)
    scheduler.sync()
    return True


def a_minute_passes(parent_id: str) -> None:
    """Put beat's and the job's bookkeeping where it would be a minute later, instead of waiting."""
    minute_ago = timezone.now() - timedelta(seconds=61)
    PeriodicTask.objects.filter(name=f"job {parent_id}").update(last_run_at=minute_ago)
    Job.objects.filter(pk=parent_id).update(last_run_at=minute_ago - timedelta(minutes=1))


def runs(parent_id: str) -> list[Job]:
    return list(Job.objects.filter(parent_id=parent_id).order_by("created_at"))


def test_a_recurring_job_produces_child_runs_and_stops_after_delete(live_worker, editor):
    parent_id = submit(
        editor, "/jobs/recurring", task_type="echo", payload={"n": 1}, cron_spec="* * * * *"
    )
    name = f"job {parent_id}"
    for expected in (1, 2):
        a_minute_passes(parent_id)
        assert beat_fires(live_worker, name)
        wait_for(lambda n=expected: len(runs(parent_id)) == n and runs(parent_id))
    for run in runs(parent_id):
        assert finished(run.id).result == {"n": 1}
    listed = editor.get(f"/jobs?parent_id={parent_id}").json()
    assert listed["total"] == 2

    assert editor.delete(f"/jobs/{parent_id}").status_code == 204
    a_minute_passes(parent_id)
    assert not beat_fires(live_worker, name)
    live_worker.send_task("jobs.fire", args=[parent_id])  # a firing already in flight
    time.sleep(1)  # no event marks a firing that does nothing: give it time to (not) happen
    assert len(runs(parent_id)) == 2


def test_firings_missed_while_beat_was_down_run_once_on_recovery(live_worker, editor):
    parent_id = submit(editor, "/jobs/recurring", task_type="echo", cron_spec="* * * * *")
    name = f"job {parent_id}"
    half_an_hour_ago = timezone.now() - timedelta(minutes=30)
    PeriodicTask.objects.filter(name=name).update(last_run_at=half_an_hour_ago)
    Job.objects.filter(pk=parent_id).update(last_run_at=half_an_hour_ago)
    assert beat_fires(live_worker, name)
    assert not beat_fires(live_worker, name)
    for _ in range(3):  # a backlog of firing messages (workers were down too)
        live_worker.send_task("jobs.fire", args=[parent_id])
    child = wait_for(lambda: runs(parent_id))[0]
    assert finished(child.id).status == "completed"
    time.sleep(1)  # let the backlog drain: each of those firings must create nothing
    assert len(runs(parent_id)) == 1
