"""The engine writes a transaction's changes together (codeai.db.write_together) and its events
with them when no webhook subscribes (emit_batch), through emit() otherwise. What a run leaves
behind must not depend on which way was taken."""

import pytest

from apps.events.models import Event
from apps.webhooks.models import Delivery
from apps.webhooks.services import webhook_create
from apps.webhooks.services.subscriptions import subscriptions_changed
from apps.workflows.models import WorkflowRun
from tests.workflows.support import history_types, wait_finished

pytestmark = pytest.mark.integration

WORKFLOW_EVENTS = ["workflow.started", "agent.executed", "workflow.completed"]
PIPELINE = {
    "agents": [
        {"name": "first", "model": "echo", "prompt": "héllo"},
        {"name": "second", "model": "echo", "prompt": "after {{previous.output}}"},
    ]
}


@pytest.fixture
def subscriber(settings):
    settings.CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS = True
    webhook, _ = webhook_create(url="http://127.0.0.1:9/hook", events=WORKFLOW_EVENTS)
    return webhook


def run_pipeline(api, workflow_id: str) -> dict:
    response = api.post(
        "/workflows",
        {
            "workflowId": workflow_id,
            "workflowType": "ai-pipeline",
            "input": PIPELINE,
            "metadata": {"team": "ünïcode"},
        },
        format="json",
    )
    assert response.status_code == 202, response.json()
    return wait_finished(api, workflow_id)


def run_events(workflow_id: str) -> list[tuple]:
    """(type, source, metadata, data without ids and durations) of the run's events, in order."""
    volatile = {"runId", "durationMs"}
    rows = Event.objects.filter(data__workflowId=workflow_id).order_by("timestamp", "type")
    return [
        (e.type, e.source, e.metadata, {k: v for k, v in e.data.items() if k not in volatile})
        for e in rows
    ]


def unsubscribe(webhook) -> None:
    webhook.active = False
    webhook.save()
    subscriptions_changed(widened=False)


def test_a_runs_events_are_the_same_with_and_without_a_webhook_subscriber(
    editor, live_worker, subscriber
):
    subscribed = run_pipeline(editor, "writes-subscribed")
    unsubscribe(subscriber)
    unsubscribed = run_pipeline(editor, "writes-unsubscribed")

    assert subscribed["status"] == unsubscribed["status"] == "completed"
    first = run_events("writes-subscribed")
    second = run_events("writes-unsubscribed")
    assert [event[0] for event in first] == [
        "workflow.started",
        "agent.executed",
        "agent.executed",
        "workflow.completed",
    ]
    renamed = [
        (type, source, metadata, {**data, "workflowId": "writes-subscribed"})
        for type, source, metadata, data in second
    ]
    assert renamed == first
    assert first[2][3]["agentName"] == "second"
    assert first[2][2] == {"team": "ünïcode"}


def test_a_subscribed_runs_events_each_get_a_delivery(editor, live_worker, subscriber):
    run_pipeline(editor, "writes-delivered")

    events = Event.objects.filter(data__workflowId="writes-delivered")
    assert events.count() == 4
    deliveries = Delivery.objects.filter(event_ref__in=events.values("id"), webhook=subscriber)
    assert deliveries.count() == 4


def test_an_unsubscribed_runs_events_are_marked_dispatched(editor, live_worker):
    run_pipeline(editor, "writes-dispatched")

    events = Event.objects.filter(data__workflowId="writes-dispatched")
    assert events.count() == 4
    assert not events.filter(dispatched_at__isnull=True).exists()


def test_a_completed_runs_rows_and_history_agree(editor, live_worker):
    body = run_pipeline(editor, "writes-history")

    run = WorkflowRun.objects.get(pk=body["runId"])
    steps = list(run.steps.order_by("index"))
    assert [(s.status, s.attempts, s.output["output"]) for s in steps] == [
        ("completed", 1, "héllo"),
        ("completed", 1, "after héllo"),
    ]
    assert all(s.started_at <= s.completed_at for s in steps)
    assert run.last_event_id == run.history.count() == len(history_types(editor, "writes-history"))
