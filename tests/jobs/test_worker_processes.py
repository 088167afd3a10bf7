"""Jobs on real `celery -A codeai worker` processes (prefork pool), which a test can kill.

The workers are separate processes, so they must reach the test database through the network:
these tests need PostgreSQL (pytest-django's SQLite test database lives in this process only).
"""

import time
import uuid
from datetime import timedelta

import pytest

from apps.events.models import Event
from apps.jobs import services
from apps.jobs.models import Job
from tests.jobs.conftest import TEST_HANDLERS
from tests.jobs.support import wait_for
from tests.worker_processes import WorkerProcess, needs_postgresql

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgresql_only():
    needs_postgresql()


@pytest.fixture
def queue(settings) -> str:
    """A queue only this test's workers consume, so nothing else takes its messages."""
    name = f"jobs-test-{uuid.uuid4().hex[:8]}"
    settings.CODEAI_QUEUES = ["default", name]
    return name


@pytest.fixture
def workers(tmp_path):
    started: list[WorkerProcess] = []

    def start(queue: str, **env: str) -> WorkerProcess:
        worker = WorkerProcess(
            queue,
            tmp_path / "workers.log",
            name="jobs-test",
            env={
                "CODEAI_TASK_HANDLERS": TEST_HANDLERS,
                "CODEAI_JOB_HEARTBEAT_SECONDS": "1",
                "CODEAI_JOB_LOST_AFTER_SECONDS": "3",
                "CODEAI_JOB_RETRY_BASE_SECONDS": "1",
                **env,
            },
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _started_events(job_id: str) -> int:
    return sum(1 for e in Event.objects.filter(type="job.started") if e.data["job_id"] == job_id)


def test_a_job_whose_worker_is_killed_is_completed_once_by_a_new_worker(workers, queue, tmp_path):
    from codeai.celery import app

    record = tmp_path / "record.txt"
    first = workers(queue)
    job = services.job_create(
        task_type="test.record",
        payload={"path": str(record), "seconds": 2},
        queue=queue,
        max_retries=1,
    )
    first_message = job.task_id
    wait_for(lambda: record.exists() and record.read_text() == "start 1\n", seconds=40)
    first.kill()
    assert Job.objects.get(pk=job.pk).status == "running"

    second = workers(queue)
    second.wait_ready(app)

    def completed():
        # Beat's sweep, as beat sends it: finds the attempt whose heartbeat stopped.
        app.send_task("jobs.sweep", queue=queue)
        time.sleep(0.5)
        return Job.objects.get(pk=job.pk).status == "completed"

    wait_for(completed, seconds=40)
    job.refresh_from_db()
    assert record.read_text() == "start 1\nstart 2\nend 2\n"
    assert (job.attempts, job.result) == (2, {"attempt": 2})
    assert _started_events(job.id) == 2
    assert (
        sum(1 for e in Event.objects.filter(type="job.completed") if e.data["job_id"] == job.id)
        == 1
    )
    retry = Event.objects.get(type="job.retrying")
    assert retry.data["error"] == f"worker {first.hostname} was lost during attempt 1"

    # The killed attempt's message, when the broker redelivers it (Redis: after the visibility
    # timeout), does nothing.
    app.send_task("jobs.run", args=[job.id], queue=queue, task_id=first_message)
    time.sleep(1)
    assert record.read_text() == "start 1\nstart 2\nend 2\n"
    assert Job.objects.get(pk=job.pk).attempts == 2


def test_a_prefork_worker_runs_handlers_inline_under_celerys_time_limits(workers, queue):
    workers(queue)
    job = services.job_create(task_type="test.where", queue=queue)
    job = wait_for(
        lambda: (j := Job.objects.get(pk=job.pk)).status == "completed" and j, seconds=40
    )
    assert job.result == {"thread": "MainThread"}


def test_a_prefork_worker_interrupts_an_attempt_at_its_timeout(workers, queue):
    workers(queue)
    job = services.job_create(
        task_type="test.sleep", payload={"seconds": 30}, queue=queue, timeout=2, max_retries=0
    )
    job = wait_for(lambda: (j := Job.objects.get(pk=job.pk)).status == "failed" and j, seconds=40)
    assert job.error == "timed out after 2s"
    assert job.failed_at - job.started_at < timedelta(seconds=4)


def test_cancelling_a_running_job_on_a_prefork_worker_stops_it(workers, queue, editor):
    from codeai.celery import app

    workers(queue).wait_ready(app)
    job = services.job_create(task_type="test.sleep", payload={"seconds": 60}, queue=queue)
    wait_for(lambda: Job.objects.get(pk=job.pk).status == "running", seconds=30)
    assert editor.delete(f"/jobs/{job.id}").status_code == 204
    # The single pool process is free again only if the 60 s sleep was interrupted.
    follow_up = services.job_create(task_type="echo", payload="next", queue=queue)
    wait_for(lambda: Job.objects.get(pk=follow_up.pk).status == "completed", seconds=15)
    job.refresh_from_db()
    assert (job.status, job.result, job.completed_at) == ("cancelled", None, None)


def test_a_prefork_worker_stops_a_cancelled_job_even_if_the_revoke_is_lost(workers, queue):
    from codeai.celery import app

    workers(queue).wait_ready(app)
    job = services.job_create(task_type="test.sleep", payload={"seconds": 60}, queue=queue)
    wait_for(lambda: Job.objects.get(pk=job.pk).status == "running", seconds=30)
    Job.objects.filter(pk=job.pk).update(status="cancelled")  # as job_cancel, minus the revoke
    follow_up = services.job_create(task_type="echo", payload="next", queue=queue)
    wait_for(lambda: Job.objects.get(pk=follow_up.pk).status == "completed", seconds=15)
    assert Job.objects.get(pk=job.pk).result is None
