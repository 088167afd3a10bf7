"""Executing a deployment runs its program on a real worker."""

import time

import pytest

PROGRAM = 'var who = "world"\nprint("hello")\nprint(who)\n'


def _wait_finished(api, execution_id: str, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = api.get(f"/executions/{execution_id}").json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"execution {execution_id} did not finish: {body}")


@pytest.fixture
def deploy(editor, live_worker):
    def make(content: str) -> str:
        config = editor.post("/configs", {"name": "c", "content": content}, format="json").json()
        deployment = editor.post(
            "/deployments", {"name": f"d-{config['id']}", "config_id": config["id"]}, format="json"
        ).json()
        return deployment["id"]

    return make


def test_execution_records_program_output_and_exit_code(editor, deploy):
    deployment_id = deploy(PROGRAM)
    execution = editor.post(f"/deployments/{deployment_id}/execute").json()
    finished = _wait_finished(editor, execution["id"])
    assert finished["status"] == "completed"
    assert finished["output"] == "hello\nworld"
    assert finished["exit_code"] == 0
    assert finished["completed_at"].endswith("Z")
    assert editor.get(f"/deployments/{deployment_id}").json()["status"] == "complete"


def test_variables_override_top_level_var_initial_values(editor, deploy):
    deployment_id = deploy(PROGRAM)
    execution = editor.post(
        f"/deployments/{deployment_id}/execute", {"variables": {"who": "codeai"}}, format="json"
    ).json()
    assert _wait_finished(editor, execution["id"])["output"] == "hello\ncodeai"


def test_runtime_error_fails_the_execution_with_its_message(editor, deploy):
    deployment_id = deploy('var n = 5\nprint("before")\nprint(len(n))\n')
    execution = editor.post(f"/deployments/{deployment_id}/execute").json()
    finished = _wait_finished(editor, execution["id"])
    assert finished["status"] == "failed"
    assert finished["exit_code"] != 0
    assert finished["output"].startswith("before\n")
    assert "RuntimeError: len() expects a string or an array" in finished["output"]
    assert editor.get(f"/deployments/{deployment_id}").json()["status"] == "failed"


def test_exec_block_fails_the_run_when_exec_is_disabled(editor, deploy, settings):
    settings.CODEAI_EXEC_ENABLED = False
    deployment_id = deploy("exec { echo hi }\n")
    execution = editor.post(f"/deployments/{deployment_id}/execute").json()
    finished = _wait_finished(editor, execution["id"])
    assert finished["status"] == "failed"
    assert "exec is disabled" in finished["output"]


def test_infinite_recursion_is_stopped(editor, deploy):
    deployment_id = deploy("function f() { f() }\nf()\n")
    execution = editor.post(f"/deployments/{deployment_id}/execute").json()
    finished = _wait_finished(editor, execution["id"])
    assert finished["status"] == "failed"
    assert "maximum call depth exceeded" in finished["output"]


JOB_PROGRAM = """print("deploying")
job nightly_cleanup {
  schedule "0 2 * * *"
  task "echo"
  queue "low"
  retry { max_attempts 3 }
}
"""


def test_declared_jobs_become_recurring_jobs_of_the_deployment(editor, deploy):
    deployment_id = deploy(JOB_PROGRAM)
    execution = editor.post(f"/deployments/{deployment_id}/execute").json()
    finished = _wait_finished(editor, execution["id"])
    assert (finished["status"], finished["output"], finished["exit_code"]) == (
        "completed",
        "deploying",
        0,
    )
    jobs = editor.get("/jobs?status=scheduled").json()["jobs"]
    [job] = [j for j in jobs if j["cron_spec"] == "0 2 * * *"]
    assert (job["task_type"], job["queue"], job["max_retries"]) == ("echo", "low", 2)


def test_executing_again_replaces_the_declared_jobs(editor, deploy):
    deployment_id = deploy(JOB_PROGRAM)
    for _ in range(2):
        execution = editor.post(f"/deployments/{deployment_id}/execute").json()
        _wait_finished(editor, execution["id"])
    assert editor.get("/jobs?status=scheduled").json()["total"] == 1


def test_deleting_the_deployment_cancels_its_jobs(editor, deploy):
    deployment_id = deploy(JOB_PROGRAM)
    execution = editor.post(f"/deployments/{deployment_id}/execute").json()
    _wait_finished(editor, execution["id"])
    assert editor.delete(f"/deployments/{deployment_id}").status_code == 204
    assert editor.get("/jobs?status=scheduled").json()["total"] == 0


def test_a_declared_job_with_an_unknown_task_fails_the_execution(editor, deploy):
    deployment_id = deploy('job j {\n  schedule "0 2 * * *"\n  task "no.such.task"\n}\n')
    execution = editor.post(f"/deployments/{deployment_id}/execute").json()
    finished = _wait_finished(editor, execution["id"])
    assert finished["status"] == "failed"
    assert "declared jobs were not registered" in finished["output"]


def test_an_execution_that_finds_the_database_unreachable_runs_again_shortly(
    editor, deploy, database_unreachable_once
):
    from apps.deployments import services
    from apps.deployments.models import Execution

    deployment_id = deploy(PROGRAM)
    calls = database_unreachable_once(
        services,
        "execution_run",
        lambda call: Execution.objects.filter(
            pk=call["execution_id"], deployment_id=deployment_id
        ).exists(),
    )
    execution = editor.post(f"/deployments/{deployment_id}/execute").json()
    finished = _wait_finished(editor, execution["id"], seconds=10)
    assert (finished["status"], finished["output"]) == ("completed", "hello\nworld")
    assert [call["execution_id"] for call in calls] == [execution["id"], execution["id"]]
