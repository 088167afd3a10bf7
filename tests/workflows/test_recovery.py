"""Durability without a worker: redelivered and duplicate messages, the beat sweep.

Steps are run by calling the task's service directly, as a worker would with a given message.
"""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.events.models import Event
from apps.workflows import services
from apps.workflows.models import WorkflowRun, WorkflowStep

pytestmark = pytest.mark.django_db

AGENTS = {
    "agents": [
        {"name": "one", "model": "echo", "prompt": "1"},
        {"name": "two", "model": "echo", "prompt": "2"},
    ]
}


def start(input=None, **kwargs) -> WorkflowRun:
    return services.workflow_start(
        workflow_id="wf", workflow_type="ai-pipeline", input=input or AGENTS, **kwargs
    )


def run_message(step: WorkflowStep, task_id: str | None = None) -> None:
    services.workflow_step_run(run_id=step.run_id, step_id=step.pk, task_id=task_id or step.task_id)


def step(name: str) -> WorkflowStep:
    return WorkflowStep.objects.get(name=name)


def history(run: WorkflowRun) -> list[str]:
    return list(run.history.order_by("event_id").values_list("event_type", flat=True))


def test_a_message_runs_its_step_and_schedules_the_next():
    start()
    run_message(step("one"))
    assert (step("one").status, step("one").output["output"]) == ("completed", "1")
    assert step("two").status == "scheduled"


def test_a_completed_step_is_never_run_or_applied_again():
    run = start()
    first = step("one")
    run_message(first)
    completed_at = step("one").completed_at
    run_message(first)  # the broker redelivers the same message
    after = step("one")
    assert (after.attempts, after.completed_at) == (1, completed_at)
    assert history(run).count("ActivityTaskCompleted") == 1


def test_a_duplicate_message_for_a_running_step_is_dropped():
    start()
    one = step("one")
    WorkflowStep.objects.filter(pk=one.pk).update(status="running", attempts=1)
    run_message(one, task_id="another-message")
    assert (step("one").status, step("one").attempts) == ("running", 1)


def test_a_redelivered_message_of_a_lost_attempt_resumes_the_run():
    run = start()
    one = step("one")
    # The worker that claimed attempt 1 died; Redis redelivers the very same message.
    WorkflowStep.objects.filter(pk=one.pk).update(status="running", attempts=1)
    run_message(one)
    resumed = step("one")
    assert (resumed.status, resumed.attempts) == ("completed", 2)
    failed = run.history.get(event_type="ActivityTaskFailed")
    assert failed.attributes["error"] == "worker lost during attempt 1"
    run_message(step("two"))
    run.refresh_from_db()
    assert run.status == "completed"
    assert [a["attempts"] for a in run.output["agents"]] == [2, 1]


def test_a_message_for_a_canceled_run_does_nothing():
    run = start()
    one = step("one")
    services.workflow_cancel(workflow_id="wf")
    run_message(one)
    assert step("one").status == "canceled"
    assert "ActivityTaskStarted" not in history(run)


def test_the_sweep_times_out_runs_past_their_deadline():
    run = start({**AGENTS, "timeout": "1m"})
    services.workflow_sweep(now=timezone.now() + timedelta(minutes=2))
    run.refresh_from_db()
    assert (run.status, run.error) == ("timed_out", "workflow timed out after 1m")
    assert history(run)[-1] == "WorkflowExecutionTimedOut"
    assert Event.objects.get(type="workflow.failed").data["timedOut"] is True
    assert [a["status"] for a in run.output["agents"]] == ["canceled", "skipped"]


def test_a_step_started_after_the_run_deadline_times_the_run_out():
    run = start({**AGENTS, "timeout": "1m"})
    WorkflowRun.objects.filter(pk=run.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    run_message(step("one"))
    run.refresh_from_db()
    assert run.status == "timed_out"
    assert "ActivityTaskStarted" not in history(run)


def test_the_sweep_resends_a_scheduled_step_whose_message_was_lost(
    settings, django_capture_on_commit_callbacks
):
    start()
    WorkflowStep.objects.filter(name="one").update(due_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks() as callbacks:
        counts = services.workflow_sweep()
    assert counts == {"timedOut": 0, "resent": 1, "recovered": 0}
    assert len(callbacks) == 1


def test_the_sweep_recovers_a_step_whose_worker_died():
    run = start()
    WorkflowStep.objects.filter(name="one").update(
        status="running", attempts=1, due_at=timezone.now() - timedelta(seconds=1)
    )
    assert services.workflow_sweep()["recovered"] == 1
    one = step("one")
    assert one.status == "scheduled"
    assert history(run)[-2:] == ["ActivityTaskFailed", "ActivityTaskScheduled"]
    run_message(one)
    assert (step("one").status, step("one").attempts) == ("completed", 2)


def test_the_sweep_leaves_healthy_runs_alone():
    start()
    assert services.workflow_sweep() == {"timedOut": 0, "resent": 0, "recovered": 0}


# --- a step's completion racing another change to its run ----------------------------------------
# On PostgreSQL the common case completes a step without a transaction: it decides from the run
# as read with its claim, then writes on condition that the run's last_event_id has not moved.
# These inject a change while the step runs; the write must then not happen, and the step's
# outcome be decided again from what the run has become.


@pytest.fixture
def while_the_step_runs(monkeypatch):
    """Run `change` once, after the next step's activity ran and before its outcome is written."""
    from django.db import connection

    from apps.workflows.services import steps as step_service

    if connection.vendor != "postgresql":
        pytest.skip("steps complete without a transaction on PostgreSQL only")
    execute = step_service._execute

    def arm(change):
        def execute_then_change(claim):
            outcome = execute(claim)
            if not armed.get("done"):
                armed["done"] = True
                change()
            return outcome

        armed = {}
        monkeypatch.setattr(step_service, "_execute", execute_then_change)
        return armed

    return arm


def test_a_step_completing_as_its_run_is_canceled_is_not_applied(while_the_step_runs):
    run = start()
    changed = while_the_step_runs(lambda: services.workflow_cancel(workflow_id="wf"))

    run_message(step("one"))

    assert changed["done"]
    run.refresh_from_db()
    assert (run.status, step("one").status, step("two").status) == (
        "canceled",
        "canceled",
        "skipped",
    )
    assert "ActivityTaskCompleted" not in history(run)
    assert not Event.objects.filter(type="agent.executed").exists()


def test_two_parallel_steps_completing_together_both_count_once(while_the_step_runs):
    run = start({**AGENTS, "parallel": True})
    changed = while_the_step_runs(lambda: run_message(step("two")))

    run_message(step("one"))

    assert changed["done"]
    run.refresh_from_db()
    assert (run.status, step("one").status, step("two").status) == (
        "completed",
        "completed",
        "completed",
    )
    events = history(run)
    assert events.count("ActivityTaskCompleted") == 2
    assert events.count("WorkflowExecutionCompleted") == 1
    assert list(run.history.order_by("event_id").values_list("event_id", flat=True)) == list(
        range(1, run.last_event_id + 1)
    )
    assert Event.objects.filter(type="agent.executed").count() == 2
    assert Event.objects.filter(type="workflow.completed").count() == 1


# --- Celery's soft time limit (SIGUSR1: the time limit, a cancel's revoke) ---------------------


def test_a_soft_time_limit_arriving_while_a_step_is_written_does_not_interrupt_it(
    soft_time_limit_signal, monkeypatch
):
    from apps.workflows.services import engine

    write = engine.write_together

    def write_after_the_signal(**kwargs):
        soft_time_limit_signal()
        return write(**kwargs)

    start()
    monkeypatch.setattr(engine, "write_together", write_after_the_signal)

    run_message(step("one"))

    assert (step("one").status, step("two").status) == ("completed", "scheduled")


def test_a_soft_time_limit_still_stops_the_wait_for_an_activity(
    soft_time_limit_signal, monkeypatch
):
    from apps.workflows.services import steps as step_service

    released = threading.Event()
    monkeypatch.setattr(step_service, "_perform", lambda claim: released.wait(10) or {})
    start({"agents": [{"name": "one", "model": "echo", "prompt": "1", "timeout": "30s"}]})
    timer = threading.Timer(0.3, soft_time_limit_signal)
    timer.start()
    try:
        run_message(step("one"))
    finally:
        released.set()

    one = step("one")
    assert (one.status, one.attempts, one.error) == ("scheduled", 1, "timed out after 30s")
