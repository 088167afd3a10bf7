"""Built-in and configured handlers, run by the same service a worker calls (job_run)."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from apps.events.models import Event
from apps.jobs import services
from apps.jobs.handlers import handler_names
from apps.jobs.models import Job

# Plain transactions, except where the handler (run in a helper thread, with its own database
# connection) must see the test's rows.
pytestmark = pytest.mark.django_db


def run(task_type: str, payload=None, **options) -> Job:
    """Submit a job and run its first attempt here, as the worker would."""
    job = services.job_create(task_type=task_type, payload=payload, **options)
    services.job_run(job_id=job.id, task_id=job.task_id, worker="test")
    return Job.objects.get(pk=job.id)


# --- echo ---------------------------------------------------------------------------------------


def test_echo_result_is_the_payload():
    job = run("echo", {"hello": ["world", 1]})
    assert job.status == "completed"
    assert job.result == {"hello": ["world", 1]}
    assert job.error == ""
    assert job.attempts == 1
    assert job.completed_at >= job.started_at


# --- http.request -------------------------------------------------------------------------------


def test_http_request_returns_status_headers_and_body(httpserver):
    httpserver.expect_request("/ping", method="GET").respond_with_json(
        {"pong": True}, headers={"ETag": '"v1"', "X-Internal": "secret"}
    )
    job = run("http.request", {"url": httpserver.url_for("/ping")})
    assert job.status == "completed"
    result = job.result
    assert result["status"] == 200
    assert result["headers"]["content-type"] == "application/json"
    assert result["headers"]["etag"] == '"v1"'
    assert "x-internal" not in result["headers"]
    assert json.loads(result["body"]) == {"pong": True}
    assert result["json"] == {"pong": True}
    assert result["truncated"] is False


def test_http_request_sends_method_headers_and_json(httpserver):
    httpserver.expect_request(
        "/hook", method="POST", json={"n": 1}, headers={"X-Token": "t"}
    ).respond_with_data("created", status=201)
    job = run(
        "http.request",
        {
            "url": httpserver.url_for("/hook"),
            "method": "post",
            "headers": {"X-Token": "t"},
            "json": {"n": 1},
        },
    )
    assert (job.status, job.result["status"], job.result["body"]) == ("completed", 201, "created")


def test_http_request_keeps_only_an_excerpt_of_a_large_body(httpserver):
    httpserver.expect_request("/big").respond_with_data("x" * 200_000)
    job = run("http.request", {"url": httpserver.url_for("/big")})
    assert job.result["truncated"] is True
    assert len(job.result["body"]) == 64 * 1024


def test_http_request_server_error_fails_the_attempt_and_is_retried(httpserver):
    httpserver.expect_request("/err").respond_with_data("boom", status=503)
    job = run("http.request", {"url": httpserver.url_for("/err")})
    assert job.status == "retrying"
    assert (
        job.error == f"GET {httpserver.url_for('/err')} returned HTTP 503 SERVICE UNAVAILABLE: boom"
    )


def test_http_request_client_error_fails_the_job_at_once(httpserver):
    httpserver.expect_request("/missing").respond_with_data("nope", status=404)
    job = run("http.request", {"url": httpserver.url_for("/missing")}, max_retries=3)
    assert (job.status, job.attempts) == ("failed", 1)
    assert "returned HTTP 404" in job.error


def test_http_request_expect_status_accepts_other_codes(httpserver):
    httpserver.expect_request("/gone").respond_with_data("", status=404)
    job = run("http.request", {"url": httpserver.url_for("/gone"), "expect_status": [200, 404]})
    assert (job.status, job.result["status"]) == ("completed", 404)


def test_http_request_refuses_private_addresses_unless_allowed(httpserver, settings):
    settings.CODEAI_JOB_HTTP_ALLOW_PRIVATE_URLS = False
    job = run("http.request", {"url": httpserver.url_for("/")}, max_retries=3)
    assert (job.status, job.attempts) == ("failed", 1)
    assert job.error == "url resolves to a private address"
    assert httpserver.log == []


def test_http_request_connection_error_is_retried():
    job = run("http.request", {"url": "http://127.0.0.1:1/"})
    assert job.status == "retrying"
    assert job.error.startswith("GET http://127.0.0.1:1/ failed: ConnectionError")


# --- agent.run ----------------------------------------------------------------------------------


def test_agent_run_echo_model_answers_offline_and_deterministically():
    first = run("agent.run", {"model": "echo", "prompt": "say hi twice"})
    second = run("agent.run", {"model": "echo", "prompt": "say hi twice"})
    assert (
        first.result
        == second.result
        == {
            "model": "echo",
            "output": "say hi twice",
            "finish_reason": "stop",
            "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
        }
    )


def test_agent_run_calls_the_configured_chat_completions_endpoint(httpserver, settings):
    settings.CODEAI_LLM_BASE_URL = httpserver.url_for("/v1")
    settings.CODEAI_LLM_API_KEY = "sk-test"
    httpserver.expect_request(
        "/v1/chat/completions",
        method="POST",
        headers={"Authorization": "Bearer sk-test"},
        json={
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hello"},
            ],
            "max_tokens": 5,
        },
    ).respond_with_json(
        {
            "model": "gpt-4o-mini-2024",
            "choices": [
                {"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5},
        }
    )
    job = run(
        "agent.run",
        {"model": "gpt-4o-mini", "prompt": "hello", "system": "be brief", "max_tokens": 5},
    )
    assert job.status == "completed", job.error
    assert job.result["output"] == "hi"
    assert job.result["model"] == "gpt-4o-mini-2024"
    assert job.result["usage"]["total_tokens"] == 5


def test_agent_run_without_a_provider_fails_clearly(settings):
    settings.CODEAI_LLM_BASE_URL = ""
    job = run("agent.run", {"model": "gpt-4", "prompt": "hi"}, max_retries=3)
    assert (job.status, job.attempts) == ("failed", 1)
    assert job.error.startswith("model gpt-4 is not available: no LLM provider is configured")


def test_agent_run_payload_is_checked_at_submit():
    with pytest.raises(Exception) as caught:
        services.job_create(task_type="agent.run", payload={"model": "echo"})
    assert caught.value.details == {"payload.prompt": "is required"}


# --- cleanup ------------------------------------------------------------------------------------


def _aged(status: str, days: int) -> Job:
    job = Job.objects.create(task_type="echo", queue="default", max_retries=0, status=status)
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(days=days))
    return job


@pytest.mark.django_db(transaction=True)
def test_cleanup_prunes_finished_jobs_older_than_the_retention(settings):
    settings.CODEAI_RETENTION_DAYS = 30
    old = [_aged(status, 31) for status in ("completed", "failed", "cancelled")]
    recent = _aged("completed", 29)
    old_but_open = _aged("pending", 31)
    job = run("cleanup")
    assert job.status == "completed"
    assert job.result["jobs"] == 3
    remaining = set(Job.objects.values_list("id", flat=True))
    assert not remaining & {j.id for j in old}
    assert {recent.id, old_but_open.id, job.id} <= remaining


@pytest.mark.django_db(transaction=True)
def test_cleanup_also_prunes_events(settings):
    from apps.events.services import emit

    emit(type="config.created", source="test", data={})
    Event.objects.update(timestamp=timezone.now() - timedelta(days=10))
    job = run("cleanup", {"days": 5})
    assert job.result["events"] >= 1
    assert "deliveries" in job.result
    assert not Event.objects.filter(timestamp__lt=timezone.now() - timedelta(days=5)).exists()


def test_cleanup_keeps_a_recurring_parent_while_it_has_recent_runs():
    parent = _aged("cancelled", 100)
    old_run = _aged("completed", 100)
    recent_run = _aged("completed", 1)
    Job.objects.filter(pk__in=[old_run.pk, recent_run.pk]).update(parent=parent)
    assert services.jobs_prune(before=timezone.now() - timedelta(days=30)) == 1
    assert set(Job.objects.values_list("id", flat=True)) == {parent.id, recent_run.id}


# --- deployment.execute and workflow.start ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_deployment_execute_creates_an_execution():
    from apps.configs.services import config_create
    from apps.deployments.models import Execution
    from apps.deployments.services import deployment_create

    config = config_create(name="c", content='var who = "world"\nprint(who)\n')
    deployment = deployment_create(name="d", config_id=config.id)
    job = run(
        "deployment.execute",
        {"deployment_id": str(deployment.id), "variables": {"who": "jobs"}},
    )
    assert job.status == "completed", job.error
    execution = Execution.objects.get(pk=job.result["execution_id"])
    assert execution.deployment_ref == deployment.id
    assert execution.variables == {"who": "jobs"}
    assert job.result["deployment_id"] == str(deployment.id)


@pytest.mark.django_db(transaction=True)
def test_deployment_execute_unknown_deployment_fails_the_job():
    job = run(
        "deployment.execute",
        {"deployment_id": "00000000-0000-0000-0000-000000000000"},
        max_retries=3,
    )
    assert (job.status, job.attempts) == ("failed", 1)
    assert job.error == "deployment 00000000-0000-0000-0000-000000000000 not found"


def test_deployment_execute_payload_is_checked_at_submit():
    with pytest.raises(Exception) as caught:
        services.job_create(task_type="deployment.execute", payload={"deployment_id": "x"})
    assert caught.value.details == {"payload.deployment_id": "must be a valid UUID"}


@pytest.mark.django_db(transaction=True)
def test_workflow_start_starts_a_run_named_after_the_job():
    job = run(
        "workflow.start",
        {"workflowType": "ai-pipeline", "input": {"model": "echo", "prompt": "hi"}},
    )
    assert (job.status, job.error) == ("completed", "")
    assert job.result["workflowId"] == job.id
    assert job.result["runId"].startswith("run-")


@pytest.mark.django_db(transaction=True)
def test_workflow_start_with_invalid_input_fails_at_once():
    job = run("workflow.start", {"workflowType": "ai-pipeline", "input": {}}, max_retries=3)
    assert (job.status, job.attempts) == ("failed", 1)
    assert job.error.startswith("validation failed")


# --- handlers from CODEAI_TASK_HANDLERS ---------------------------------------------------------


def test_configured_handlers_are_registered_by_name_or_dotted_path():
    names = handler_names()
    assert {"test.sleep", "test.record", "tests.jobs.handlers.flaky"} <= set(names)
    job = run("tests.jobs.handlers.flaky", {"succeed_on": 1})
    assert job.result == {"attempt": 1}


def test_a_handler_that_cannot_be_imported_fails_the_job(settings):
    settings.CODEAI_TASK_HANDLERS = "ghost=tests.jobs.nowhere:handler"
    job = run("ghost", max_retries=2)
    assert (job.status, job.attempts) == ("failed", 1)
    assert job.error.startswith("handler ghost (tests.jobs.nowhere:handler) cannot be loaded")


def test_malformed_task_handlers_setting_is_improperly_configured(settings):
    settings.CODEAI_TASK_HANDLERS = "broken=not a path"
    with pytest.raises(ImproperlyConfigured):
        handler_names()


def test_a_result_that_is_not_json_fails_the_job():
    job = run("test.unserialisable", max_retries=2)
    assert (job.status, job.attempts) == ("failed", 1)
    assert job.error.startswith("result is not JSON-serialisable")
