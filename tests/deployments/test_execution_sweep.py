"""The executions sweep: lost run messages are published again, lost workers' runs fail."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.configs.services import config_create
from apps.deployments.models import Deployment, Execution
from apps.deployments.services import deployment_create, execution_run, executions_sweep
from apps.events.models import Event
from tests.waiting import wait_for

PROGRAM = 'print("hello")\n'


@pytest.fixture
def execution_row(db):
    """execution_row(status, **fields) → an Execution of a valid deployment, as left by a
    message or a worker that is gone."""

    def make(status: str, **fields) -> Execution:
        config = config_create(name="c", content=PROGRAM)
        deployment = deployment_create(name=f"d-{status}", config_id=config.id)
        Deployment.objects.filter(pk=deployment.pk).update(status=Deployment.Status.RUNNING)
        return Execution.objects.create(
            deployment=deployment,
            deployment_ref=deployment.id,
            status=status,
            started_at=timezone.now() - timedelta(minutes=10),
            **fields,
        )

    return make


def test_a_pending_execution_whose_message_was_lost_runs_after_the_sweep(
    execution_row, live_worker
):
    execution = execution_row("pending", enqueued_at=timezone.now() - timedelta(minutes=5))
    assert executions_sweep()["republished"] == 1
    finished = wait_for(
        lambda: Execution.objects.filter(pk=execution.pk, status="completed").first()
    )
    assert (finished.output, finished.exit_code) == ("hello", 0)


def test_a_recently_published_execution_is_left_to_its_message(execution_row):
    execution_row("pending", enqueued_at=timezone.now())
    assert executions_sweep()["republished"] == 0


def test_two_sweeps_publish_a_lost_execution_once(execution_row):
    execution_row("pending", enqueued_at=timezone.now() - timedelta(minutes=5))
    assert [executions_sweep()["republished"] for _ in range(2)] == [1, 0]


def test_a_running_execution_past_every_time_limit_fails_as_lost(execution_row, settings):
    execution = execution_row(
        "running", run_started_at=timezone.now() - timedelta(minutes=10), output="partial"
    )
    assert executions_sweep()["lost"] == 1
    execution.refresh_from_db()
    assert (execution.status, execution.exit_code, execution.output) == ("failed", 1, "partial")
    assert execution.error.startswith("worker lost")
    assert execution.deployment.status == "failed"
    assert Event.objects.filter(type="execution.failed", data__execution_id=execution.id).exists()


def test_a_running_execution_within_its_time_limit_is_left_alone(execution_row):
    execution_row("running", run_started_at=timezone.now())
    assert executions_sweep()["lost"] == 0


def test_a_second_message_for_a_running_execution_does_nothing(execution_row):
    execution = execution_row("running", run_started_at=timezone.now())
    execution_run(execution_id=execution.id)
    execution.refresh_from_db()
    assert (execution.status, execution.output) == ("running", "")
