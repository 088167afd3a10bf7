"""Eager dispatch: the task that ran a step runs the run's next step itself (docs/workflows.md).

Messages are run in this process: through the Celery task (`apply`, as a worker would run the
message) or through its service with a given carrier.
"""

import time

import pytest

from apps.workflows import services
from apps.workflows.models import WorkflowRun, WorkflowStep
from apps.workflows.tasks import workflow_step_task

pytestmark = pytest.mark.django_db


def agents(*prompts: str, **extra) -> dict:
    return {
        "agents": [
            {"name": f"agent-{index}", "model": "echo", "prompt": prompt, **extra}
            for index, prompt in enumerate(prompts)
        ]
    }


def start(input: dict, workflow_type: str = "ai-pipeline") -> WorkflowRun:
    return services.workflow_start(workflow_id="wf", workflow_type=workflow_type, input=input)


def first_step(run: WorkflowRun) -> WorkflowStep:
    return run.steps.get(status="scheduled")


def deliver(step: WorkflowStep) -> None:
    """What a worker does with the step's message."""
    workflow_step_task.apply(args=[step.run_id, step.pk], task_id=step.task_id)


def statuses(run: WorkflowRun) -> list[str]:
    return list(run.steps.order_by("index").values_list("status", flat=True))


def history(run: WorkflowRun) -> list[str]:
    return list(run.history.order_by("event_id").values_list("event_type", flat=True))


def test_one_message_runs_a_sequential_pipeline_to_the_end():
    run = start(agents("one", "two", "after {{previous.output}}"))
    deliver(first_step(run))
    run.refresh_from_db()
    assert run.status == "completed"
    assert [a["output"] for a in run.output["agents"]] == ["one", "two", "after two"]
    assert history(run) == [
        "WorkflowExecutionStarted",
        *["ActivityTaskScheduled", "ActivityTaskStarted", "ActivityTaskCompleted"] * 3,
        "WorkflowExecutionCompleted",
    ]


def test_one_message_runs_a_sequential_test_suite_to_the_end():
    cases = [
        {"id": "a", "kind": "agent", "input": {"model": "echo", "prompt": "x"}},
        {
            "id": "b",
            "kind": "agent",
            "input": {"model": "echo", "prompt": "y"},
            "expected": {"equals": "z"},
        },
        {"id": "c", "kind": "dsl", "input": {"source": "var x = 1\n"}, "expected": {"valid": True}},
    ]
    run = start({"name": "suite", "testCases": cases}, workflow_type="test-suite")
    deliver(first_step(run))
    run.refresh_from_db()
    assert run.status == "completed"
    assert (run.output["passed"], run.output["failed"], run.output["skipped"]) == (2, 1, 0)


def test_without_an_eager_budget_a_message_runs_only_its_own_step(settings):
    settings.CODEAI_WORKFLOW_EAGER_SECONDS = 0
    run = start(agents("one", "two"))
    deliver(first_step(run))
    assert statuses(run) == ["completed", "scheduled"]


def test_a_message_takes_no_step_once_its_worker_is_shutting_down(monkeypatch):
    from celery.worker import state

    monkeypatch.setattr(state, "should_stop", 0)  # what a warm shutdown sets (EX_OK)
    run = start(agents("one", "two"))
    deliver(first_step(run))
    assert statuses(run) == ["completed", "scheduled"]


def test_a_message_stops_taking_steps_once_its_eager_budget_is_spent(settings, llm):
    settings.CODEAI_WORKFLOW_EAGER_SECONDS = 0.5
    llm.slow["slow"] = 1.0
    pipeline = agents("fast", "slow", "next")
    pipeline["agents"][1]["model"] = "m"
    run = start(pipeline)
    deliver(first_step(run))  # takes "slow" at once, not "next" after the second it took
    assert statuses(run) == ["completed", "completed", "scheduled"]


def test_a_step_whose_timeout_outlasts_the_tasks_time_limit_gets_its_own_message():
    pipeline = agents("one", "two", "three")
    pipeline["agents"][1]["timeout"] = "10s"  # + 10 s grace: fits in the 30 s left
    pipeline["agents"][2]["timeout"] = "1m"
    run = start(pipeline)
    first = first_step(run)
    now = time.monotonic()
    carrier = services.Carrier(first.task_id, takes_until=now + 60, killed_at=now + 30)
    services.workflow_step_run(
        run_id=run.id, step_id=first.pk, task_id=first.task_id, carrier=carrier
    )
    assert statuses(run) == ["completed", "completed", "scheduled"]


def test_a_redelivered_message_takes_back_the_step_its_task_was_running_when_lost():
    run = start(agents("one", "two"))
    first = first_step(run)
    services.workflow_step_run(run_id=run.id, step_id=first.pk, task_id=first.task_id)
    # The task went on to run step two (eager dispatch) and its worker died: step two is still
    # `running` under the task's id, and the broker delivers the task's message again.
    run.steps.filter(index=1).update(status="running", attempts=1, task_id=first.task_id)
    deliver(first)
    run.refresh_from_db()
    assert run.status == "completed"
    assert [a["attempts"] for a in run.output["agents"]] == [1, 2]
    lost = run.history.get(event_type="ActivityTaskFailed")
    assert (lost.attributes["stepName"], lost.attributes["error"]) == (
        "agent-1",
        "worker lost during attempt 1",
    )


def test_a_redelivered_message_leaves_a_step_another_task_runs_alone():
    run = start(agents("one", "two"))
    first = first_step(run)
    services.workflow_step_run(run_id=run.id, step_id=first.pk, task_id=first.task_id)
    run.steps.filter(index=1).update(status="running", attempts=1)  # its own message's task
    deliver(first)
    assert statuses(run) == ["completed", "running"]
    assert "ActivityTaskFailed" not in history(run)
