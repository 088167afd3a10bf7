"""A worker killed mid-step: another worker resumes the run (real `celery worker` processes).

The workers are separate processes reaching the test database over the network: these tests
need PostgreSQL (pytest's SQLite test database is not shared with other processes).
"""

import uuid

import pytest

from apps.workflows import services
from apps.workflows.models import WorkflowRun, WorkflowStep
from tests.worker_processes import WorkerProcess, needs_postgresql
from tests.workflows.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgresql_only():
    needs_postgresql()


@pytest.fixture
def queue(settings) -> str:
    name = f"workflows-test-{uuid.uuid4().hex[:8]}"
    settings.CODEAI_QUEUES = ["default", name]
    settings.CODEAI_WORKFLOW_QUEUE = name
    return name


@pytest.fixture
def workers(tmp_path, llm):
    started: list[WorkerProcess] = []

    def start(queue: str, cancel_poll_seconds: float = 0.1) -> WorkerProcess:
        worker = WorkerProcess(
            queue,
            tmp_path / "workers.log",
            name="workflows-test",
            env={
                "CODEAI_WORKFLOW_QUEUE": queue,
                "CODEAI_LLM_BASE_URL": llm.base_url,
                "CODEAI_LLM_MAX_RETRIES": "0",
                "CODEAI_WORKFLOW_CANCEL_POLL_SECONDS": str(cancel_poll_seconds),
            },
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def test_a_run_whose_worker_is_killed_mid_step_is_resumed_by_another_worker(workers, queue, llm):
    from codeai.celery import app

    llm.slow["slow"] = 5
    first_worker = workers(queue)
    run = services.workflow_start(
        workflow_id="wf-killed",
        workflow_type="ai-pipeline",
        input={
            "agents": [
                {"name": "first", "model": "m", "prompt": "first"},
                {"name": "middle", "model": "m", "prompt": "slow"},
                {"name": "last", "model": "m", "prompt": "last"},
            ]
        },
    )
    wait_for(lambda: "slow" in llm.prompts(), seconds=40)
    middle = WorkflowStep.objects.get(run=run, name="middle")
    assert middle.status == "running"
    first_worker.kill()
    llm.slow.clear()

    second_worker = workers(queue)
    second_worker.wait_ready(app)
    # What Redis does with the killed worker's unacknowledged message once its visibility
    # timeout expires: deliver the same message (same task id) again. The task that ran "middle"
    # is the one whose message was for the first step running under its id: "first" itself, as
    # it went on to take "middle" (eager dispatch), or "middle" with its own message.
    carrier = run.steps.filter(task_id=middle.task_id).order_by("index").first()
    app.send_task(
        "workflows.step_run", args=[run.id, carrier.pk], task_id=carrier.task_id, queue=queue
    )
    wait_for(lambda: WorkflowRun.objects.get(pk=run.pk).status == "completed", seconds=40)

    run.refresh_from_db()
    assert [(a["agentName"], a["attempts"]) for a in run.output["agents"]] == [
        ("first", 1),
        ("middle", 2),
        ("last", 1),
    ]
    assert run.output["agents"][1]["output"] == "m says: slow"
    assert llm.prompts().count("first") == 1
    events = list(run.history.order_by("event_id"))
    lost = [e for e in events if e.event_type == "ActivityTaskFailed"]
    assert [e.attributes["error"] for e in lost] == ["worker lost during attempt 1"]
    completed = [
        e.attributes["stepName"] for e in events if e.event_type == "ActivityTaskCompleted"
    ]
    assert completed == ["first", "middle", "last"]

    # A late copy of a completed step's message changes nothing.
    first = WorkflowStep.objects.get(run=run, name="first")
    app.send_task("workflows.step_run", args=[run.id, first.pk], task_id=first.task_id, queue=queue)
    last_event = events[-1].event_id
    # One pool process takes messages in order: once a later run is done, the copy was handled.
    services.workflow_start(
        workflow_id="wf-after", workflow_type="ai-pipeline", input={"model": "echo", "prompt": "x"}
    )
    wait_for(lambda: WorkflowRun.objects.get(workflow_id="wf-after").status == "completed")
    assert WorkflowStep.objects.get(pk=first.pk).attempts == 1
    assert run.history.order_by("-event_id").first().event_id == last_event


@pytest.mark.parametrize(
    "agents",
    [
        [{"name": "slow", "model": "m", "prompt": "slow"}],
        # The slow step is taken by the first step's task (eager dispatch): the revoke names it.
        [
            {"name": "fast", "model": "echo", "prompt": "x"},
            {"name": "slow", "model": "m", "prompt": "slow"},
        ],
    ],
    ids=["step-with-its-own-message", "step-taken-by-the-previous-steps-task"],
)
def test_cancel_interrupts_a_running_step_without_killing_the_pool_process(
    workers, queue, llm, agents
):
    from codeai.celery import app

    def pool_processes() -> list[int]:
        stats = app.control.inspect([worker.hostname], timeout=5).stats()
        return stats[worker.hostname]["pool"]["processes"]

    llm.slow["slow"] = 30
    # A poll slower than the test: only the revoke's signal can free the pool process.
    worker = workers(queue, cancel_poll_seconds=60)
    worker.wait_ready(app)
    before = pool_processes()
    services.workflow_start(
        workflow_id="wf-cancel-prefork",
        workflow_type="ai-pipeline",
        input={"agents": [*agents, {"name": "never", "model": "m", "prompt": "never"}]},
    )
    wait_for(lambda: "slow" in llm.prompts(), seconds=40)
    services.workflow_cancel(workflow_id="wf-cancel-prefork", reason="test")
    services.workflow_start(
        workflow_id="wf-after-cancel",
        workflow_type="ai-pipeline",
        input={"model": "echo", "prompt": "x"},
    )
    wait_for(
        lambda: WorkflowRun.objects.get(workflow_id="wf-after-cancel").status == "completed",
        seconds=15,
    )
    assert pool_processes() == before
    assert WorkflowRun.objects.get(workflow_id="wf-cancel-prefork").status == "canceled"
    assert "never" not in llm.prompts()
