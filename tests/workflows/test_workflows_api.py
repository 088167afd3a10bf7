"""The workflow endpoints through HTTP (no worker: runs stay open, nothing is executed)."""

import re

import pytest

from apps.events.models import Event
from apps.workflows.models import WorkflowRun, WorkflowStep

RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"
ECHO = {"model": "echo", "prompt": "hi"}


def start(api, workflow_id="wf-1", workflow_type="ai-pipeline", input=None, **extra):
    body = {
        "workflowId": workflow_id,
        "workflowType": workflow_type,
        "input": ECHO if input is None else input,
    }
    return api.post("/workflows", {**body, **extra}, format="json")


def details(response) -> dict:
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["error"] == "validation failed"
    return body["details"]


# --- POST /workflows ---------------------------------------------------------------------------


def test_start_returns_202_with_workflow_id_run_id_and_status(editor):
    response = start(editor)
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"workflowId", "runId", "status"}
    assert body["workflowId"] == "wf-1"
    assert re.match(r"^run-[0-9a-f-]{36}$", body["runId"])
    assert body["status"] == "running"


def test_start_is_served_under_api_v1_too(editor):
    response = editor.post(
        "/api/v1/workflows",
        {"workflowId": "wf-v1", "workflowType": "ai-pipeline", "input": ECHO},
        format="json",
    )
    assert response.status_code == 202


def test_start_records_the_run_its_steps_and_the_first_history_events(editor):
    run_id = start(editor).json()["runId"]
    run = WorkflowRun.objects.get(pk=run_id)
    assert (run.status, run.kind, run.input) == ("running", "ai-pipeline", ECHO)
    step = WorkflowStep.objects.get(run=run)
    assert (step.name, step.kind, step.status) == ("agent", "agent", "scheduled")
    assert step.task_id
    types = list(run.history.values_list("event_type", flat=True))
    assert types == ["WorkflowExecutionStarted", "ActivityTaskScheduled"]


def test_start_emits_workflow_started_with_the_metadata(editor):
    start(editor, metadata={"project": "p"})
    event = Event.objects.get(type="workflow.started")
    assert event.source == "workflow-engine"
    assert event.data["workflowId"] == "wf-1"
    assert event.metadata == {"project": "p"}


def test_start_while_a_run_is_open_is_409(editor):
    first = start(editor).json()
    response = start(editor)
    assert response.status_code == 409
    assert response.json() == {
        "error": "workflow already running",
        "details": {"workflowId": "wf-1", "runId": first["runId"]},
    }


def test_the_database_refuses_a_second_open_run_for_a_workflow_id(editor):
    from django.db import IntegrityError, transaction

    run = WorkflowRun.objects.get(pk=start(editor).json()["runId"])
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkflowRun.objects.create(
            workflow_id=run.workflow_id, kind="ai-pipeline", status="pending"
        )


def test_a_closed_workflow_id_can_be_started_again_and_get_shows_the_latest(editor):
    first = start(editor).json()
    assert editor.post("/workflows/wf-1/cancel").status_code == 200
    second = start(editor).json()
    assert second["runId"] != first["runId"]
    assert editor.get("/workflows/wf-1").json()["runId"] == second["runId"]


def test_start_requires_workflow_id_type_and_input(editor):
    assert details(editor.post("/workflows", {}, format="json")) == {
        "workflowId": "is required",
        "workflowType": "is required",
        "input": "is required",
    }


def test_workflow_id_must_be_1_to_255_characters(editor):
    assert details(start(editor, workflow_id="")) == {"workflowId": "must be at least 1 characters"}
    assert details(start(editor, workflow_id="x" * 256)) == {
        "workflowId": "must be at most 255 characters"
    }


def test_workflow_id_cannot_contain_a_slash(editor):
    assert details(start(editor, workflow_id="a/b")) == {
        "workflowId": "must not contain '/' or control characters"
    }


def test_input_and_metadata_must_be_objects(editor):
    response = editor.post(
        "/workflows",
        {"workflowId": "w", "workflowType": "ai-pipeline", "input": [1], "metadata": "x"},
        format="json",
    )
    assert details(response) == {"input": "must be an object", "metadata": "must be an object"}


def test_unknown_workflow_type_lists_the_builtin_types(editor):
    assert details(start(editor, workflow_type="etl")) == {
        "workflowType": "must be one of: ai-pipeline test-suite"
    }


def test_a_slash_type_matching_no_deployment_is_400(editor):
    assert details(start(editor, workflow_type="shop/Review")) == {
        "workflowType": "no deployed workflow named shop/Review"
    }


def test_a_deployment_never_executed_has_no_deployed_workflows(editor):
    config = editor.post(
        "/configs", {"name": "c", "content": 'workflow W {\n  a: Agent("echo")\n}\n'}, format="json"
    ).json()
    editor.post("/deployments", {"name": "dep", "config_id": config["id"]}, format="json")
    assert details(start(editor, workflow_type="dep/W")) == {
        "workflowType": "no deployed workflow named dep/W"
    }


def test_a_deployed_type_resolves_after_a_completed_execution(editor):
    from django.utils import timezone

    from apps.deployments.models import Execution

    config = editor.post(
        "/configs", {"name": "c", "content": 'workflow W {\n  a: Agent("echo")\n}\n'}, format="json"
    ).json()
    deployment = editor.post(
        "/deployments", {"name": "dep", "config_id": config["id"]}, format="json"
    ).json()
    Execution.objects.create(
        deployment_id=deployment["id"],
        deployment_ref=deployment["id"],
        status="completed",
        started_at=timezone.now(),
    )
    assert start(editor, workflow_type="dep/W", input={}).status_code == 202
    assert details(start(editor, "wf-2", workflow_type="dep/Other", input={})) == {
        "workflowType": "no deployed workflow named dep/Other"
    }


def test_single_agent_input_requires_model_and_prompt(editor):
    assert details(start(editor, input={})) == {
        "input.model": "is required",
        "input.prompt": "is required",
    }


def test_single_agent_input_checks_types_and_ranges(editor):
    response = start(
        editor,
        input={"model": "m", "prompt": "p", "maxTokens": 0, "temperature": 3, "system": 1},
    )
    assert details(response) == {
        "input.maxTokens": "must be at least 1",
        "input.temperature": "must be between 0 and 2",
        "input.system": "must be a string",
    }


def test_unknown_input_fields_are_rejected(editor):
    assert details(start(editor, input={**ECHO, "colour": "red"})) == {
        "input.colour": "unknown field"
    }


def test_agents_are_validated_field_by_field(editor):
    agents = [
        {"type": "poet", "model": "m", "prompt": "p"},
        {"name": "b", "prompt": 3},
        {"name": "b", "model": "m", "prompt": "p", "timeout": "soon"},
    ]
    assert details(start(editor, input={"agents": agents})) == {
        "input.agents.0.name": "is required",
        "input.agents.0.type": "must be one of: llm code-analysis test-generator documentation",
        "input.agents.1.model": "is required",
        "input.agents.1.prompt": "must be a string",
        "input.agents.2.name": "must be unique",
        "input.agents.2.timeout": "must be a duration like 500ms, 30s, 5m or 1h30m",
    }


def test_agents_must_be_a_non_empty_array(editor):
    assert details(start(editor, input={"agents": []})) == {"input.agents": "must not be empty"}
    assert details(start(editor, input={"agents": {}})) == {"input.agents": "must be an array"}


def test_retry_policy_fields_are_validated(editor):
    policy = {
        "initialInterval": "2s",
        "maximumInterval": "1s",
        "backoffCoefficient": 0.5,
        "maximumAttempts": 0,
        "jitter": 2,
        "extra": 1,
    }
    agents = [{"name": "a", "model": "m", "prompt": "p"}]
    assert details(start(editor, input={"agents": agents, "retryPolicy": policy})) == {
        "input.retryPolicy.extra": "unknown field",
        "input.retryPolicy.backoffCoefficient": "must be between 1 and 100",
        "input.retryPolicy.maximumAttempts": "must be at least 1",
        "input.retryPolicy.jitter": "must be between 0 and 1",
        "input.retryPolicy.maximumInterval": "must be at least initialInterval",
    }


def test_step_policy_overrides_the_run_policy_over_the_defaults(editor):
    agents = [{"name": "a", "model": "m", "prompt": "p", "retryPolicy": {"maximumAttempts": 5}}]
    policy = {"initialInterval": "2s"}
    run_id = start(editor, input={"agents": agents, "retryPolicy": policy}).json()["runId"]
    step = WorkflowStep.objects.get(run_id=run_id)
    assert step.retry_policy == {
        "initialIntervalSeconds": 2.0,
        "backoffCoefficient": 2.0,
        "maximumIntervalSeconds": 200.0,
        "maximumAttempts": 5,
        "jitter": 0.1,
    }


def test_test_suite_input_is_validated_field_by_field(editor):
    cases = [
        {"id": "a", "input": {"url": "not a url"}, "expected": {"status": 99}},
        {"id": "a", "kind": "agent", "input": {"model": "m"}, "expected": {"regex": "("}},
        {"id": "c", "kind": "dsl", "input": {}, "expected": {"errors": "x"}},
        {"id": "d", "kind": "smtp", "input": {}},
        {"id": "e", "input": {"url": "http://x.test", "method": "FETCH"}, "tags": [1]},
    ]
    assert details(start(editor, workflow_type="test-suite", input={"testCases": cases})) == {
        "input.name": "is required",
        "input.testCases.0.input.url": "must be a valid URL",
        "input.testCases.0.expected.status": "must be at least 100",
        "input.testCases.1.id": "must be unique",
        "input.testCases.1.input.prompt": "is required",
        "input.testCases.1.expected.regex": "must be a valid regular expression",
        "input.testCases.2.input.source": "is required",
        "input.testCases.2.expected.errors": "must be an array of strings",
        "input.testCases.3.kind": "must be one of: http agent dsl",
        "input.testCases.4.input.method": "must be one of: GET POST PUT PATCH DELETE HEAD OPTIONS",
        "input.testCases.4.tags": "must be an array of strings",
    }


def test_test_suite_requires_test_cases(editor):
    assert details(start(editor, workflow_type="test-suite", input={"name": "n"})) == {
        "input.testCases": "is required"
    }


def test_test_case_kind_defaults_to_http(editor):
    cases = [{"id": "a", "input": {"url": "http://example.test/"}}]
    response = start(editor, workflow_type="test-suite", input={"name": "n", "testCases": cases})
    assert response.status_code == 202
    step = WorkflowStep.objects.get(run_id=response.json()["runId"])
    assert (step.kind, step.input["kind"]) == ("test", "http")


def test_start_needs_the_editor_role(viewer, client):
    assert start(viewer).status_code == 403
    assert start(client).status_code == 401


def test_start_with_malformed_json_is_400(editor):
    response = editor.generic("POST", "/workflows", "{", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid JSON body"


# --- GET /workflows ------------------------------------------------------------------------------


@pytest.fixture
def runs(editor):
    start(editor, "wf-a")
    start(
        editor,
        "wf-b",
        "test-suite",
        {"name": "s", "testCases": [{"id": "x", "input": {"url": "http://a.test"}}]},
    )
    start(editor, "wf-c")
    editor.post("/workflows/wf-c/cancel")
    WorkflowRun.objects.filter(workflow_id="wf-a").update(status="timed_out")


def test_list_returns_the_envelope_with_items_in_camel_case(viewer, runs):
    response = viewer.get("/workflows")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"workflows", "total", "limit", "offset"}
    assert (body["total"], body["limit"], body["offset"]) == (3, 20, 0)
    item = body["workflows"][0]
    assert set(item) == {
        "workflowId",
        "workflowType",
        "runId",
        "status",
        "startedAt",
        "completedAt",
    }
    assert item["workflowId"] == "wf-c"  # newest first
    assert re.match(RFC3339, item["startedAt"]) and re.match(RFC3339, item["completedAt"])


def test_list_filters_by_workflow_type(viewer, runs):
    body = viewer.get("/workflows?workflowType=test-suite").json()
    assert [w["workflowId"] for w in body["workflows"]] == ["wf-b"]
    assert body["total"] == 1


def test_list_filters_by_status_and_failed_includes_timed_out(viewer, runs):
    assert [
        w["workflowId"] for w in viewer.get("/workflows?status=canceled").json()["workflows"]
    ] == ["wf-c"]
    failed = viewer.get("/workflows?status=failed").json()["workflows"]
    assert [(w["workflowId"], w["status"]) for w in failed] == [("wf-a", "failed")]


def test_list_rejects_an_unknown_status(viewer, runs):
    assert details(viewer.get("/workflows?status=done")) == {
        "status": "must be one of: pending running completed failed canceled"
    }


def test_list_paginates(viewer, runs):
    body = viewer.get("/workflows?limit=1&offset=1").json()
    assert (len(body["workflows"]), body["total"], body["limit"], body["offset"]) == (1, 3, 1, 1)
    assert details(viewer.get("/workflows?limit=x")) == {"limit": "must be a non-negative integer"}


def test_list_needs_a_credential(client):
    assert client.get("/workflows").status_code == 401


# --- GET /workflows/{id} -------------------------------------------------------------------------


def test_get_returns_the_latest_run_with_every_field(viewer, editor):
    run_id = start(editor, metadata={"project": "p"}).json()["runId"]
    response = viewer.get("/workflows/wf-1")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "workflowId": "wf-1",
        "workflowType": "ai-pipeline",
        "runId": run_id,
        "status": "running",
        "input": ECHO,
        "output": None,
        "error": None,
        "startedAt": body["startedAt"],
        "completedAt": None,
        "metadata": {"project": "p"},
    }
    assert re.match(RFC3339, body["startedAt"])


def test_get_unknown_workflow_is_404(viewer):
    response = viewer.get("/workflows/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "workflow not found", "details": {}}


# --- POST /workflows/{id}/cancel -----------------------------------------------------------------


def test_cancel_returns_200_and_the_run_is_canceled_durably(editor):
    run_id = start(editor).json()["runId"]
    response = editor.post("/workflows/wf-1/cancel", {"reason": "no longer needed"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"workflowId": "wf-1", "status": "canceled"}
    run = WorkflowRun.objects.get(pk=run_id)
    assert (run.status, run.cancel_reason) == ("canceled", "no longer needed")
    assert run.error == "canceled: no longer needed"
    assert run.completed_at is not None
    assert WorkflowStep.objects.get(run=run).status == "canceled"
    event = Event.objects.get(type="workflow.canceled")
    assert event.data["reason"] == "no longer needed"


def test_cancel_body_is_optional(editor):
    start(editor)
    assert editor.post("/workflows/wf-1/cancel").status_code == 200


def test_cancel_records_the_request_and_the_cancellation_in_history(editor):
    start(editor)
    editor.post("/workflows/wf-1/cancel", {"reason": "r"}, format="json")
    events = editor.get("/workflows/wf-1/history").json()["events"]
    assert [e["eventType"] for e in events][-2:] == [
        "WorkflowExecutionCancelRequested",
        "WorkflowExecutionCanceled",
    ]
    assert events[-2]["attributes"] == {"reason": "r"}


def test_cancel_a_closed_workflow_is_409(editor):
    start(editor)
    editor.post("/workflows/wf-1/cancel")
    response = editor.post("/workflows/wf-1/cancel")
    assert response.status_code == 409
    assert response.json() == {
        "error": "workflow is not running",
        "details": {"workflowId": "wf-1", "status": "canceled"},
    }


def test_cancel_unknown_workflow_is_404(editor):
    response = editor.post("/workflows/nope/cancel")
    assert response.status_code == 404
    assert response.json()["error"] == "workflow not found"


def test_cancel_reason_must_be_a_string(editor):
    start(editor)
    assert details(editor.post("/workflows/wf-1/cancel", {"reason": 5}, format="json")) == {
        "reason": "must be a string"
    }


def test_cancel_needs_the_editor_role(viewer, editor):
    start(editor)
    assert viewer.post("/workflows/wf-1/cancel").status_code == 403


# --- GET /workflows/{id}/history -----------------------------------------------------------------


def test_history_lists_events_with_ids_types_timestamps_and_attributes(viewer, editor):
    run_id = start(editor).json()["runId"]
    response = viewer.get("/workflows/wf-1/history")
    assert response.status_code == 200
    body = response.json()
    assert (body["workflowId"], body["runId"]) == ("wf-1", run_id)
    first, second = body["events"]
    assert set(first) == {"eventId", "eventType", "timestamp", "attributes"}
    assert (first["eventId"], first["eventType"]) == (1, "WorkflowExecutionStarted")
    assert (second["eventId"], second["eventType"]) == (2, "ActivityTaskScheduled")
    assert second["attributes"]["stepName"] == "agent"
    assert re.match(RFC3339, first["timestamp"])


def test_history_of_an_earlier_run_by_run_id(viewer, editor):
    first = start(editor).json()["runId"]
    editor.post("/workflows/wf-1/cancel")
    start(editor)
    body = viewer.get(f"/workflows/wf-1/history?runId={first}").json()
    assert body["runId"] == first
    assert viewer.get("/workflows/wf-1/history?runId=run-x").status_code == 404


def test_history_unknown_workflow_is_404(viewer):
    response = viewer.get("/workflows/nope/history")
    assert response.status_code == 404
    assert response.json()["error"] == "workflow not found"
