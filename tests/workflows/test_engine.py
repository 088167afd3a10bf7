"""Workflow runs on a real Celery worker (threads) on the real broker, with a local LLM server."""

import pytest

from apps.events.models import Event
from apps.workflows.models import WorkflowStep
from tests.workflows.support import history_types, wait_finished, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def close_worker_connections(monkeypatch):
    """Worker threads close their database connection after each task (CONN_MAX_AGE 0), so no
    session outlives the test and PostgreSQL's test database can be dropped at the end."""
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)


FAST_RETRY = {"initialInterval": "50ms", "backoffCoefficient": 1, "maximumAttempts": 3}


def start(api, workflow_id: str, workflow_type: str, input: dict, **extra) -> dict:
    response = api.post(
        "/workflows",
        {"workflowId": workflow_id, "workflowType": workflow_type, "input": input, **extra},
        format="json",
    )
    assert response.status_code == 202, response.json()
    return response.json()


def test_sequential_pipeline_of_three_agents_completes_with_outputs_in_order(
    editor, live_worker, llm
):
    agents = [
        {"name": "analyst", "model": "m1", "prompt": "analyze"},
        {"name": "writer", "type": "documentation", "model": "m2", "prompt": "document"},
        {"name": "echoer", "model": "echo", "prompt": "after {{previous.output}}"},
    ]
    started = start(editor, "wf-seq", "ai-pipeline", {"agents": agents})
    body = wait_finished(editor, "wf-seq")
    assert body["status"] == "completed"
    assert body["runId"] == started["runId"]
    outputs = body["output"]["agents"]
    assert [a["agentName"] for a in outputs] == ["analyst", "writer", "echoer"]
    assert [a["status"] for a in outputs] == ["completed"] * 3
    assert outputs[0]["output"] == "m1 says: analyze"
    assert outputs[1]["output"].startswith("m2 says: Write documentation for the following.")
    assert outputs[2]["output"] == f"after {outputs[1]['output']}"
    assert outputs[0]["tokens"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    assert all(a["attempts"] == 1 for a in outputs)
    # The provider saw the calls one after another, in declaration order.
    assert [r["model"] for r in llm.requests] == ["m1", "m2"]
    assert history_types(editor, "wf-seq") == [
        "WorkflowExecutionStarted",
        *["ActivityTaskScheduled", "ActivityTaskStarted", "ActivityTaskCompleted"] * 3,
        "WorkflowExecutionCompleted",
    ]


def test_history_event_ids_count_from_one_without_gaps(editor, live_worker):
    start(editor, "wf-ids", "ai-pipeline", {"model": "echo", "prompt": "hi"})
    wait_finished(editor, "wf-ids")
    events = editor.get("/workflows/wf-ids/history").json()["events"]
    assert [e["eventId"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["attributes"]["workflowType"] == "ai-pipeline"
    assert all(e["timestamp"].endswith("Z") for e in events)


def test_single_agent_pipeline_with_echo_answers_offline(editor, live_worker):
    start(editor, "wf-echo", "ai-pipeline", {"model": "echo", "prompt": "hello there"})
    body = wait_finished(editor, "wf-echo")
    assert body["status"] == "completed"
    assert body["output"]["output"] == "hello there"
    assert body["output"]["agents"][0]["agentName"] == "agent"


def test_parallel_pipeline_runs_all_agents_and_completes(editor, live_worker, llm):
    agents = [{"name": f"a{i}", "model": "m", "prompt": f"p{i}"} for i in range(3)]
    start(editor, "wf-par", "ai-pipeline", {"agents": agents, "parallel": True})
    body = wait_finished(editor, "wf-par")
    assert body["status"] == "completed"
    assert [a["output"] for a in body["output"]["agents"]] == [f"m says: p{i}" for i in range(3)]
    types = history_types(editor, "wf-par")
    # All three are scheduled together, before any of them completes.
    assert types[1:4] == ["ActivityTaskScheduled"] * 3
    assert types.count("ActivityTaskCompleted") == 3
    assert sorted(llm.prompts()) == ["p0", "p1", "p2"]


def test_agent_failing_twice_with_500_succeeds_on_the_third_attempt(editor, live_worker, llm):
    llm.script = [(500, {"error": "boom"}, 0), (500, {"error": "boom"}, 0)]
    agents = [{"name": "flaky", "model": "m", "prompt": "try", "retryPolicy": FAST_RETRY}]
    start(editor, "wf-retry", "ai-pipeline", {"agents": agents})
    body = wait_finished(editor, "wf-retry")
    assert body["status"] == "completed"
    agent = body["output"]["agents"][0]
    assert (agent["attempts"], agent["output"]) == (3, "m says: try")
    events = editor.get("/workflows/wf-retry/history").json()["events"]
    failed = [e for e in events if e["eventType"] == "ActivityTaskFailed"]
    assert [e["attributes"]["attempt"] for e in failed] == [1, 2]
    assert all(e["attributes"]["retrying"] for e in failed)
    assert "HTTP 500" in failed[0]["attributes"]["error"]
    assert len(llm.requests) == 3


def test_agent_exhausting_its_attempts_fails_the_run(editor, live_worker, llm):
    llm.script = [(503, "unavailable", 0)] * 2
    policy = {**FAST_RETRY, "maximumAttempts": 2}
    agents = [
        {"name": "down", "model": "m", "prompt": "x", "retryPolicy": policy},
        {"name": "never", "model": "m", "prompt": "y"},
    ]
    start(editor, "wf-exhaust", "ai-pipeline", {"agents": agents})
    body = wait_finished(editor, "wf-exhaust")
    assert body["status"] == "failed"
    assert body["error"].startswith('step "down" failed: LLM provider returned HTTP 503')
    assert [a["status"] for a in body["output"]["agents"]] == ["failed", "skipped"]
    assert history_types(editor, "wf-exhaust")[-1] == "WorkflowExecutionFailed"
    assert Event.objects.filter(type="workflow.failed").count() == 1


def test_a_model_without_provider_fails_the_step_with_a_clear_message(editor, live_worker):
    start(editor, "wf-noprov", "ai-pipeline", {"model": "gpt-4", "prompt": "hi"})
    body = wait_finished(editor, "wf-noprov")
    assert body["status"] == "failed"
    assert body["output"]["agents"][0]["error"] == (
        'no LLM provider configured for model "gpt-4": set CODEAI_LLM_BASE_URL'
    )
    assert body["output"]["agents"][0]["attempts"] == 1  # not retryable


def test_a_step_past_its_timeout_fails_the_run_as_timed_out(editor, live_worker, llm):
    llm.slow["slow"] = 3
    agents = [
        {
            "name": "sleepy",
            "model": "m",
            "prompt": "slow please",
            "timeout": "300ms",
            "retryPolicy": {"maximumAttempts": 1},
        }
    ]
    start(editor, "wf-timeout", "ai-pipeline", {"agents": agents})
    body = wait_finished(editor, "wf-timeout")
    assert body["status"] == "failed"
    assert body["error"] == 'step "sleepy" timed out: timed out after 300ms'
    assert body["output"]["agents"][0]["status"] == "timed_out"
    types = history_types(editor, "wf-timeout")
    assert types[-2:] == ["ActivityTaskTimedOut", "WorkflowExecutionTimedOut"]


def test_a_whole_run_past_its_timeout_times_out(editor, live_worker, llm):
    llm.slow["slow"] = 3
    agents = [
        {"name": "a", "model": "m", "prompt": "slow"},
        {"name": "b", "model": "m", "prompt": "b"},
    ]
    start(editor, "wf-run-timeout", "ai-pipeline", {"agents": agents, "timeout": "500ms"})
    body = wait_finished(editor, "wf-run-timeout")
    assert body["status"] == "failed"
    assert body["error"] == "workflow timed out after 500ms"
    assert history_types(editor, "wf-run-timeout")[-1] == "WorkflowExecutionTimedOut"
    assert [a["status"] for a in body["output"]["agents"]] == ["canceled", "skipped"]


def test_cancel_during_a_slow_step_ends_canceled_and_the_next_step_never_starts(
    editor, live_worker, llm
):
    llm.slow["slow"] = 3
    agents = [
        {"name": "slow", "model": "m", "prompt": "slow"},
        {"name": "next", "model": "m", "prompt": "n"},
    ]
    start(editor, "wf-cancel", "ai-pipeline", {"agents": agents})
    wait_for(lambda: WorkflowStep.objects.filter(name="slow", status="running").exists())
    wait_for(lambda: llm.requests)
    response = editor.post("/workflows/wf-cancel/cancel", {"reason": "enough"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"workflowId": "wf-cancel", "status": "canceled"}
    body = editor.get("/workflows/wf-cancel").json()
    assert body["status"] == "canceled"
    assert [a["status"] for a in body["output"]["agents"]] == ["canceled", "skipped"]
    # Long after the slow call would have finished, the second step has still not started.
    # Once the slow call has been answered (its result is discarded), nothing follows it.
    wait_for(lambda: llm.answered, seconds=10)
    assert llm.prompts() == ["slow"]
    assert WorkflowStep.objects.get(name="next").status == "skipped"
    types = history_types(editor, "wf-cancel")
    assert types[-4:] == [
        "WorkflowExecutionCancelRequested",
        "ActivityTaskStarted",  # written when the attempt ends, as Temporal does
        "ActivityTaskCanceled",
        "WorkflowExecutionCanceled",
    ]
    assert "ActivityTaskCompleted" not in types
    assert Event.objects.filter(type="workflow.canceled").count() == 1


@pytest.fixture
def target(settings):
    """A local HTTP service for `http` test cases."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(threaded=True)
    server.start()
    server.expect_request("/health").respond_with_json({"status": "ok", "checks": {"db": "up"}})
    server.expect_request("/broken").respond_with_data("oops", status=500)
    yield server
    server.clear()
    server.stop()


def suite_cases(target) -> list[dict]:
    return [
        {
            "id": "health",
            "input": {"url": target.url_for("/health")},
            "expected": {"status": 200, "json": {"checks": {"db": "up"}}},
        },
        {
            "id": "broken",
            "name": "broken endpoint",
            "input": {"method": "GET", "url": target.url_for("/broken")},
            "expected": {"status": 200},
        },
        {
            "id": "agent",
            "kind": "agent",
            "input": {"model": "echo", "prompt": "ping"},
            "expected": {"equals": "ping"},
        },
        {
            "id": "dsl",
            "kind": "dsl",
            "input": {"source": "var x = 1\n"},
            "expected": {"valid": True},
        },
    ]


def test_test_suite_counts_passed_and_failed_cases_and_says_why(editor, live_worker, target):
    start(editor, "wf-suite", "test-suite", {"name": "smoke", "testCases": suite_cases(target)})
    body = wait_finished(editor, "wf-suite")
    assert body["status"] == "completed"
    output = body["output"]
    assert (output["name"], output["total"], output["passed"], output["failed"]) == (
        "smoke",
        4,
        3,
        1,
    )
    assert output["skipped"] == 0
    results = {r["id"]: r for r in output["results"]}
    assert results["broken"] == {
        **results["broken"],
        "name": "broken endpoint",
        "status": "failed",
        "reason": "expected status 200, got 500",
    }
    assert results["health"]["status"] == "passed" and results["health"]["reason"] is None
    assert isinstance(output["durationMs"], int)
    event = Event.objects.get(type="test.suite.completed")
    assert (event.data["passed"], event.data["failed"], event.data["total"]) == (3, 1, 4)


def test_stop_on_failure_skips_the_remaining_cases(editor, live_worker, target):
    cases = suite_cases(target)
    start(
        editor,
        "wf-stop",
        "test-suite",
        {"name": "stop", "testCases": cases, "stopOnFailure": True},
    )
    output = wait_finished(editor, "wf-stop")["output"]
    assert (output["total"], output["passed"], output["failed"], output["skipped"]) == (4, 1, 1, 2)
    assert [r["status"] for r in output["results"]] == ["passed", "failed", "skipped", "skipped"]
    assert output["results"][2]["reason"] == 'skipped: stopOnFailure after "broken" failed'


def test_parallel_test_suite_runs_every_case(editor, live_worker, target):
    start(
        editor,
        "wf-suite-par",
        "test-suite",
        {"name": "par", "testCases": suite_cases(target), "parallel": True},
    )
    output = wait_finished(editor, "wf-suite-par")["output"]
    assert (output["passed"], output["failed"]) == (3, 1)


def test_a_test_case_past_its_timeout_fails_with_the_reason(editor, live_worker, llm):
    llm.slow["slow"] = 3
    cases = [
        {
            "id": "slow",
            "kind": "agent",
            "input": {"model": "m", "prompt": "slow"},
            "expected": {"contains": "says"},
            "timeout": "200ms",
        }
    ]
    start(editor, "wf-case-timeout", "test-suite", {"name": "t", "testCases": cases})
    output = wait_finished(editor, "wf-case-timeout")["output"]
    assert output["results"][0]["status"] == "failed"
    assert output["results"][0]["reason"] == "timed out after 200ms"


DEPLOYED = """
workflow Review {
  analyze: Agent("m", "look at this")
  summarize: Agent("echo")
}

workflow Fanout {
  trigger manual
  steps {
    parallel {
      left { activity "agent" input { model: "echo" prompt: "left" } }
      right { activity "agent" input { model: "echo" prompt: "right" } }
    }
    publish { activity "publish.release" }
  }
}

workflow Prepared {
  trigger manual
  steps {
    prepare { activity "agent" input { model: "echo" prompt: "prepare" } }
    parallel {
      left { activity "agent" input { model: "echo" prompt: "left" } }
      right { activity "agent" input { model: "echo" prompt: "right" } }
    }
  }
}
"""


@pytest.fixture
def deployment(editor, live_worker):
    config = editor.post("/configs", {"name": "wf", "content": DEPLOYED}, format="json").json()
    assert config["validation_errors"] is None, config
    deployment = editor.post(
        "/deployments", {"name": "shop", "config_id": config["id"]}, format="json"
    ).json()
    execution = editor.post(f"/deployments/{deployment['id']}/execute").json()
    wait_for(lambda: editor.get(f"/executions/{execution['id']}").json()["status"] == "completed")
    return deployment


def test_a_deployed_workflow_runs_its_declared_agent_steps(editor, deployment, llm):
    start(editor, "wf-deployed", "shop/Review", {"prompt": "from input"})
    body = wait_finished(editor, "wf-deployed")
    assert body["status"] == "completed", body
    assert body["workflowType"] == "shop/Review"
    steps = body["output"]["steps"]
    assert [(s["stepName"], s["output"]) for s in steps] == [
        ("analyze", "m says: look at this"),
        ("summarize", "from input"),
    ]


def test_a_deployed_workflow_fails_on_an_unknown_activity_after_its_parallel_group(
    editor, deployment
):
    start(editor, "wf-fanout", "shop/Fanout", {})
    body = wait_finished(editor, "wf-fanout")
    assert body["status"] == "failed"
    assert body["error"] == 'step "publish" failed: unknown activity "publish.release"'
    steps = body["output"]["steps"]
    assert [(s["stepName"], s["status"], s["output"]) for s in steps] == [
        ("left", "completed", "left"),
        ("right", "completed", "right"),
        ("publish", "failed", None),
    ]


def test_a_parallel_group_after_a_step_runs_every_step_of_the_group(editor, deployment):
    # The task that ran "prepare" takes one step of the group itself; the other gets a message.
    start(editor, "wf-prepared", "shop/Prepared", {})
    body = wait_finished(editor, "wf-prepared")
    assert body["status"] == "completed", body
    steps = body["output"]["steps"]
    assert [(s["stepName"], s["status"], s["output"]) for s in steps] == [
        ("prepare", "completed", "prepare"),
        ("left", "completed", "left"),
        ("right", "completed", "right"),
    ]


def test_a_step_whose_timeout_outlasts_its_predecessors_time_limit_gets_its_own_message(
    editor, live_worker
):
    # The first step's message allows 1 s + grace + the eager budget: too short for a 10 m step.
    agents = [
        {"name": "short", "model": "echo", "prompt": "a", "timeout": "1s"},
        {"name": "long", "model": "echo", "prompt": "b", "timeout": "10m"},
        {"name": "after", "model": "echo", "prompt": "c", "timeout": "10s"},
    ]
    start(editor, "wf-limits", "ai-pipeline", {"agents": agents})
    assert wait_finished(editor, "wf-limits")["status"] == "completed"
    task_ids = dict(WorkflowStep.objects.values_list("name", "task_id"))
    assert task_ids["long"] != task_ids["short"]
    assert task_ids["after"] == task_ids["long"]  # taken by the task that ran "long"
