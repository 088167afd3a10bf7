"""A step while the database is unreachable (a restart, a failover): its claim and the write of
its outcome are tried again in the task, and its wait for the activity goes on.

Statements fail through Django's execute wrapper, as they do when PostgreSQL cuts connections.
Messages are run in this process by calling the task's service, outside any transaction.
"""

import time

import pytest
from django.db import OperationalError, connection

from apps.workflows import services
from apps.workflows.models import WorkflowRun, WorkflowStep
from apps.workflows.services import steps as step_service
from codeai.celery import call_while_database_unreachable

pytestmark = pytest.mark.django_db(transaction=True)

AGENTS = {
    "agents": [
        {"name": "one", "model": "echo", "prompt": "1"},
        {"name": "two", "model": "echo", "prompt": "2"},
    ]
}


@pytest.fixture
def outage():
    """`outage.fail(n, matching="")`: the next n statements containing `matching` fail."""

    class Outage:
        remaining = 0
        matching = ""
        failed = 0

        def fail(self, times: int, matching: str = "") -> None:
            self.remaining, self.matching = times, matching

        def __call__(self, execute, sql, params, many, context):
            if self.remaining and self.matching in sql:
                self.remaining -= 1
                self.failed += 1
                raise OperationalError("server closed the connection unexpectedly")
            return execute(sql, params, many, context)

    state = Outage()
    with connection.execute_wrapper(state):
        yield state


def start() -> WorkflowRun:
    return services.workflow_start(workflow_id="wf", workflow_type="ai-pipeline", input=AGENTS)


def run_first_step(run: WorkflowRun, *, failing: int = 0, outage=None) -> WorkflowStep:
    """Deliver step one's message, its first `failing` statements failing."""
    step = run.steps.get(name="one")
    if failing:
        outage.fail(failing)
    services.workflow_step_run(run_id=run.id, step_id=step.pk, task_id=step.task_id)
    return run.steps.get(name="one")


def history(run: WorkflowRun) -> list[str]:
    return list(run.history.order_by("event_id").values_list("event_type", flat=True))


def test_a_claim_is_tried_again_once_the_database_answers(outage):
    run = start()
    one = run_first_step(run, failing=1, outage=outage)
    assert outage.failed == 1
    assert (one.status, one.attempts) == ("completed", 1)


def test_a_steps_outcome_is_written_once_the_database_answers_again(outage, monkeypatch):
    execute = step_service._execute

    def execute_then_lose_the_database(claim):
        outcome = execute(claim)
        outage.fail(1)
        return outcome

    monkeypatch.setattr(step_service, "_execute", execute_then_lose_the_database)
    run = start()
    one = run_first_step(run)
    assert outage.failed == 1
    assert (one.status, one.attempts, one.output["output"]) == ("completed", 1, "1")
    assert history(run).count("ActivityTaskCompleted") == 1
    assert "ActivityTaskFailed" not in history(run)
    assert run.steps.get(name="two").status == "scheduled"


def test_a_running_step_keeps_waiting_while_its_run_cannot_be_read(outage, monkeypatch):
    run_agent = step_service.activities.run_agent

    def echo_while_the_database_is_down(spec, deadline):
        outage.fail(1000, matching="workflows_workflowrun")  # what the cancel poll reads
        time.sleep(0.3)  # several polls: every 0.05 s in these tests
        outage.fail(0)
        return run_agent(spec, deadline=deadline)

    monkeypatch.setattr(step_service.activities, "run_agent", echo_while_the_database_is_down)
    run = start()
    one = run_first_step(run)
    assert outage.failed >= 2
    assert (one.status, one.output["output"]) == ("completed", "1")


def test_database_errors_outlasting_the_bound_are_raised():
    def unreachable():
        raise OperationalError("connection refused")

    with pytest.raises(OperationalError):
        call_while_database_unreachable(unreachable, seconds=0.5)
