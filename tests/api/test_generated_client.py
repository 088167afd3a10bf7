"""A client generated from the published schema (openapi-python-client) drives the main flows."""

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import bearer

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture(scope="module")
def codeai_client(tmp_path_factory):
    """Generate the client package once and import it."""
    out = tmp_path_factory.mktemp("generated")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(SCHEMA),
            "--meta",
            "none",
            "--output-path",
            str(out / "codeai_client"),
        ],
        check=True,
        capture_output=True,
        env=env,
        timeout=180,
    )
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("codeai_client")
    finally:
        sys.path.remove(str(out))


@pytest.fixture
def api(codeai_client, live_server, live_worker):
    token = bearer("admin")["HTTP_AUTHORIZATION"].split()[1]
    return codeai_client.AuthenticatedClient(base_url=live_server.url, token=token, timeout=30)


def _module(codeai_client, dotted: str):
    return importlib.import_module(f"{codeai_client.__name__}.{dotted}")


def _until(fetch, done, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = fetch()
        if done(value):
            return value
        time.sleep(0.1)
    raise AssertionError(f"not done in {seconds}s: {value}")


def test_config_validate_deploy_execute_and_read_the_execution(codeai_client, api):
    models = _module(codeai_client, "models")
    configs = _module(codeai_client, "api.configs")
    deployments = _module(codeai_client, "api.deployments")
    executions = _module(codeai_client, "api.executions")
    create = importlib.import_module(f"{configs.__name__}.configs_create")
    config = create.sync(
        client=api,
        body=models.ConfigCreateRequest.from_dict(
            {"name": "client", "content": 'var who = "sdk"\nprint(who)'}
        ),
    )
    assert config.validation_errors is None
    validate = importlib.import_module(f"{configs.__name__}.configs_validate_create")
    result = validate.sync(id=str(config.id), client=api, body=models.ConfigValidateRequest())
    assert result.valid is True

    make = importlib.import_module(f"{deployments.__name__}.deployments_create")
    deployment = make.sync(
        client=api,
        body=models.DeploymentCreateRequest.from_dict(
            {"name": "client-deploy", "config_id": str(config.id)}
        ),
    )
    execute = importlib.import_module(f"{deployments.__name__}.deployments_execute_create")
    started = execute.sync_detailed(
        id=str(deployment.id), client=api, body=models.DeploymentExecuteRequest()
    )
    assert started.status_code == 202
    read = importlib.import_module(f"{executions.__name__}.executions_retrieve")
    finished = _until(
        lambda: read.sync(id=started.parsed.id, client=api),
        lambda e: e.status in ("completed", "failed"),
    )
    assert (finished.output, finished.exit_code) == ("sdk", 0)


def test_submit_a_job_and_read_it(codeai_client, api):
    models = _module(codeai_client, "models")
    submit = _module(codeai_client, "api.jobs.jobs_create")
    read = _module(codeai_client, "api.jobs.jobs_retrieve")
    created = submit.sync(
        client=api,
        body=models.JobSubmitRequest.from_dict({"task_type": "echo", "payload": {"n": 1}}),
    )
    job = _until(lambda: read.sync(id=created.id, client=api), lambda j: j.status == "completed")
    assert job.result == {"n": 1}


def test_create_a_webhook_and_send_a_test_delivery(codeai_client, api, httpserver, settings):
    settings.CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS = True
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    models = _module(codeai_client, "models")
    create = _module(codeai_client, "api.webhooks.webhooks_create")
    test = _module(codeai_client, "api.webhooks.webhooks_test_create")
    created = create.sync(
        client=api,
        body=models.WebhookCreateRequest.from_dict({"url": httpserver.url_for("/hook")}),
    )
    delivery = test.sync(id=created.id, client=api)
    assert (delivery.success, delivery.status_code) == (True, 200)


def test_start_a_workflow_and_read_its_history(codeai_client, api):
    models = _module(codeai_client, "models")
    start = _module(codeai_client, "api.workflows.workflows_create")
    read = _module(codeai_client, "api.workflows.workflows_retrieve")
    history = _module(codeai_client, "api.workflows.workflows_history_retrieve")
    started = start.sync(
        client=api,
        body=models.WorkflowStartRequest.from_dict(
            {
                "workflowId": "sdk-run",
                "workflowType": "ai-pipeline",
                "input": {"model": "echo", "prompt": "hi"},
            }
        ),
    )
    assert started.run_id.startswith("run-")
    _until(lambda: read.sync(id="sdk-run", client=api), lambda w: w.status == "completed")
    events = history.sync(id="sdk-run", client=api).events
    assert events[0].event_type == "WorkflowExecutionStarted"
    assert events[-1].event_type == "WorkflowExecutionCompleted"
