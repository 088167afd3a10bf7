"""A worker killed mid-step: another worker resumes the run (real `celery worker` processes).

The workers are separate processes reaching the test database over the network: these tests
need PostgreSQL (pytest's SQLite test database is not shared with other processes).
"""

import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from apps.workflows import services
from apps.workflows.models import WorkflowRun, WorkflowStep
from tests.workflows.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def needs_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: worker processes cannot open pytest's SQLite test database")


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or 'localhost'}{port}/{db['NAME']}"


class WorkerProcess:
    """`celery -A codeai worker` (prefork, one child) in its own process group, on one queue."""

    def __init__(self, queue: str, log: Path, llm_url: str):
        self.hostname = f"workflows-test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        environment = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CODEAI_QUEUES": f"default {queue}",
            "CODEAI_WORKFLOW_QUEUE": queue,
            "CODEAI_LLM_BASE_URL": llm_url,
            "CODEAI_LLM_MAX_RETRIES": "0",
            "CODEAI_WORKFLOW_CANCEL_POLL_SECONDS": "0.1",
            "CODEAI_DB_CONN_MAX_AGE": "0",
        }
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "codeai",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "1",
                "--queues",
                queue,
                "--hostname",
                self.hostname,
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, app, seconds: float = 30) -> None:
        def answered():
            assert self.process.poll() is None, "worker exited during start-up"
            return app.control.ping(destination=[self.hostname], timeout=0.5)

        wait_for(answered, seconds=seconds)

    def kill(self) -> None:
        """SIGKILL the whole group: the main process and its pool child, mid-task."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def queue(settings) -> str:
    name = f"workflows-test-{uuid.uuid4().hex[:8]}"
    settings.CODEAI_QUEUES = ["default", name]
    settings.CODEAI_WORKFLOW_QUEUE = name
    return name


@pytest.fixture
def workers(tmp_path, llm):
    started: list[WorkerProcess] = []

    def start(queue: str) -> WorkerProcess:
        worker = WorkerProcess(queue, tmp_path / "workers.log", llm.base_url)
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
    # timeout expires: deliver the same message (same task id) again.
    app.send_task(
        "workflows.step_run", args=[run.id, middle.pk], task_id=middle.task_id, queue=queue
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
