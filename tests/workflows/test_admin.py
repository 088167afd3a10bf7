"""The Django admin for workflow runs: filters, steps and history inline, cancel action."""

import pytest
from django.contrib.auth.models import User

from apps.workflows import services
from apps.workflows.models import WorkflowRun


@pytest.fixture
def staff(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def start(workflow_id: str) -> WorkflowRun:
    return services.workflow_start(
        workflow_id=workflow_id, workflow_type="ai-pipeline", input={"model": "echo", "prompt": "p"}
    )


def test_run_list_filters_by_status(staff):
    start("wf-open")
    start("wf-closed")
    services.workflow_cancel(workflow_id="wf-closed")
    response = staff.get("/admin/workflows/workflowrun/?status__exact=canceled")
    assert response.status_code == 200
    assert b"wf-closed" in response.content
    assert b"wf-open" not in response.content


def test_run_page_shows_steps_and_history(staff):
    run = start("wf-page")
    response = staff.get(f"/admin/workflows/workflowrun/{run.pk}/change/")
    assert response.status_code == 200
    assert b"WorkflowExecutionStarted" in response.content
    assert b"ActivityTaskScheduled" in response.content
    assert b"Scheduled" in response.content  # the step's status


def test_cancel_action_cancels_through_the_service(staff):
    run = start("wf-admin")
    response = staff.post(
        "/admin/workflows/workflowrun/",
        {"action": "cancel_runs", "_selected_action": [run.pk]},
    )
    assert response.status_code == 302
    run.refresh_from_db()
    assert (run.status, run.cancel_reason) == ("canceled", "canceled in admin")
    assert run.history.filter(event_type="WorkflowExecutionCanceled").exists()


def test_runs_cannot_be_added_in_the_admin(staff):
    assert staff.get("/admin/workflows/workflowrun/add/").status_code == 403
