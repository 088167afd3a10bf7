"""Deployments and executions through HTTP."""

import uuid

import pytest

from apps.configs.models import Config
from apps.deployments.models import Deployment, Execution

RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"


@pytest.fixture
def config(db) -> Config:
    return Config.objects.create(
        name="c",
        content="var x = 1\nprint(x)",
        ast_json={"Kind": "Program", "Statements": [{"Kind": "VarDecl", "Name": "x"}]},
    )


def test_create_returns_the_deployment(editor, config):
    response = editor.post(
        "/deployments", {"name": "my-deployment", "config_id": str(config.id)}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "config_id", "status", "created_at", "updated_at"}
    assert body["name"] == "my-deployment"
    assert body["config_id"] == str(config.id)
    assert body["status"] == "pending"
    uuid.UUID(body["id"])
    assert body["created_at"].endswith("Z")


def test_create_without_config_is_allowed(editor):
    response = editor.post("/deployments", {"name": "bare"}, format="json")
    assert response.status_code == 201
    assert response.json()["config_id"] is None


def test_create_requires_name(editor):
    response = editor.post("/deployments", {}, format="json")
    assert response.status_code == 400
    assert response.json() == {"error": "validation failed", "details": {"name": "is required"}}


def test_create_rejects_empty_name(editor):
    response = editor.post("/deployments", {"name": ""}, format="json")
    assert response.json()["details"] == {"name": "must be at least 1 characters"}


def test_create_rejects_name_over_255_characters(editor):
    response = editor.post("/deployments", {"name": "x" * 256}, format="json")
    assert response.json()["details"] == {"name": "must be at most 255 characters"}


def test_create_accepts_unicode_name(editor):
    response = editor.post("/deployments", {"name": "déploiement-🚀"}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == "déploiement-🚀"


def test_create_rejects_malformed_config_id(editor):
    response = editor.post("/deployments", {"name": "a", "config_id": "nope"}, format="json")
    assert response.json() == {
        "error": "validation failed",
        "details": {"config_id": "must be a valid UUID"},
    }


def test_create_rejects_unknown_config_id(editor):
    response = editor.post(
        "/deployments", {"name": "a", "config_id": str(uuid.uuid4())}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["details"] == {"config_id": "config not found"}


def test_duplicate_name_is_409(editor):
    editor.post("/deployments", {"name": "dup"}, format="json")
    response = editor.post("/deployments", {"name": "dup"}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "error": "deployment name already exists",
        "details": {"name": "must be unique"},
    }


def test_get_returns_the_deployment(viewer, db):
    deployment = Deployment.objects.create(name="d")
    response = viewer.get(f"/deployments/{deployment.id}")
    assert response.status_code == 200
    assert response.json()["name"] == "d"


def test_get_unknown_is_404(viewer):
    response = viewer.get(f"/deployments/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json() == {"error": "deployment not found", "details": {}}


def test_list_is_newest_first(viewer, db):
    Deployment.objects.create(name="first")
    Deployment.objects.create(name="second")
    names = [d["name"] for d in viewer.get("/deployments").json()["data"]]
    assert names == ["second", "first"]


def test_put_updates_status(editor, db):
    deployment = Deployment.objects.create(name="d")
    response = editor.put(f"/deployments/{deployment.id}", {"status": "stopped"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "stopped"


def test_put_rejects_unknown_status(editor, db):
    deployment = Deployment.objects.create(name="d")
    response = editor.put(f"/deployments/{deployment.id}", {"status": "paused"}, format="json")
    assert response.json()["details"] == {
        "status": "must be one of: pending running stopped failed complete"
    }


def test_put_renaming_onto_an_existing_name_is_409(editor, db):
    Deployment.objects.create(name="taken")
    deployment = Deployment.objects.create(name="d")
    response = editor.put(f"/deployments/{deployment.id}", {"name": "taken"}, format="json")
    assert response.status_code == 409


def test_put_can_detach_the_config(editor, config):
    deployment = Deployment.objects.create(name="d", config=config)
    response = editor.put(f"/deployments/{deployment.id}", {"config_id": None}, format="json")
    assert response.json()["config_id"] is None


def test_delete_is_204_and_removes_it(editor, db):
    deployment = Deployment.objects.create(name="d")
    assert editor.delete(f"/deployments/{deployment.id}").status_code == 204
    assert editor.get(f"/deployments/{deployment.id}").status_code == 404


def test_delete_keeps_execution_history_readable(editor, db):
    deployment = Deployment.objects.create(name="d")
    execution = Execution.objects.create(
        deployment=deployment,
        deployment_ref=deployment.id,
        status="completed",
        started_at="2024-01-15T10:40:00Z",
    )
    editor.delete(f"/deployments/{deployment.id}")
    response = editor.get(f"/executions/{execution.id}")
    assert response.status_code == 200
    assert response.json()["deployment_id"] == str(deployment.id)


def test_delete_while_an_execution_runs_is_409(editor, db):
    deployment = Deployment.objects.create(name="d")
    Execution.objects.create(
        deployment=deployment,
        deployment_ref=deployment.id,
        status="running",
        started_at="2024-01-15T10:40:00Z",
    )
    response = editor.delete(f"/deployments/{deployment.id}")
    assert response.status_code == 409
    assert response.json()["error"] == "deployment has a running execution"


def test_execute_creates_an_execution_and_answers_202(editor, config):
    deployment = Deployment.objects.create(name="d", config=config)
    response = editor.post(f"/deployments/{deployment.id}/execute", {}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["id"].startswith("exec-")
    assert body["deployment_id"] == str(deployment.id)
    assert body["command"] == "execute"
    assert body["started_at"].endswith("Z")
    assert editor.get(f"/deployments/{deployment.id}").json()["status"] == "running"


def test_execute_with_an_empty_body_is_accepted(editor, config):
    deployment = Deployment.objects.create(name="d", config=config)
    response = editor.post(f"/deployments/{deployment.id}/execute")
    assert response.status_code == 202


def test_execute_rejects_undeclared_variables(editor, config):
    deployment = Deployment.objects.create(name="d", config=config)
    response = editor.post(
        f"/deployments/{deployment.id}/execute", {"variables": {"nope": 1}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["details"] == {
        "variables.nope": "is not declared by the program; declared: x"
    }


def test_execute_rejects_object_variable_values(editor, config):
    deployment = Deployment.objects.create(name="d", config=config)
    response = editor.post(
        f"/deployments/{deployment.id}/execute", {"variables": {"x": {"a": 1}}}, format="json"
    )
    assert response.status_code == 400


def test_execute_with_invalid_config_is_409(editor, db):
    bad = Config.objects.create(name="bad", content="x = 1", validation_errors=["1:1: bad"])
    deployment = Deployment.objects.create(name="d", config=bad)
    response = editor.post(f"/deployments/{deployment.id}/execute", {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "config is not valid"


def test_execute_while_one_runs_is_409(editor, config):
    deployment = Deployment.objects.create(name="d", config=config)
    editor.post(f"/deployments/{deployment.id}/execute", {}, format="json")
    response = editor.post(f"/deployments/{deployment.id}/execute", {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "an execution is already running"


def test_viewer_cannot_execute(viewer, config):
    deployment = Deployment.objects.create(name="d", config=config)
    assert viewer.post(f"/deployments/{deployment.id}/execute").status_code == 403


def test_deployment_executions_lists_only_its_own(viewer, config):
    mine = Deployment.objects.create(name="mine", config=config)
    other = Deployment.objects.create(name="other", config=config)
    for d in (mine, mine, other):
        Execution.objects.create(
            deployment=d, deployment_ref=d.id, started_at="2024-01-15T10:40:00Z"
        )
    body = viewer.get(f"/deployments/{mine.id}/executions").json()
    assert body["total"] == 2
    assert {e["deployment_id"] for e in body["data"]} == {str(mine.id)}


def test_executions_list_and_detail_fields(viewer, db):
    deployment = Deployment.objects.create(name="d")
    execution = Execution.objects.create(
        deployment=deployment,
        deployment_ref=deployment.id,
        status="completed",
        output="Completed successfully",
        exit_code=0,
        started_at="2024-01-15T10:40:00Z",
        completed_at="2024-01-15T10:45:00Z",
    )
    listed = viewer.get("/executions").json()
    assert listed["total"] == 1
    detail = viewer.get(f"/executions/{execution.id}").json()
    assert detail == listed["data"][0]
    assert detail["output"] == "Completed successfully"
    assert detail["exit_code"] == 0
    assert detail["started_at"] == "2024-01-15T10:40:00.000000Z"
    assert detail["completed_at"] == "2024-01-15T10:45:00.000000Z"


@pytest.mark.parametrize("bad_id", ["exec-nope", "123", "exec-" + "0" * 36])
def test_execution_malformed_or_unknown_id_is_404(viewer, bad_id):
    response = viewer.get(f"/executions/{bad_id}")
    assert response.status_code == 404
    assert response.json() == {"error": "execution not found", "details": {}}


def test_deployment_writes_record_events(editor, db):
    from apps.events.models import Event

    created = editor.post("/deployments", {"name": "ev"}, format="json").json()
    editor.put(f"/deployments/{created['id']}", {"status": "stopped"}, format="json")
    editor.delete(f"/deployments/{created['id']}")
    types = list(Event.objects.order_by("timestamp").values_list("type", flat=True))
    assert types == ["deployment.created", "deployment.updated", "deployment.deleted"]
