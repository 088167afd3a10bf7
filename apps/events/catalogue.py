"""Every event type CodeAI emits, with its description and category (GET /events/types)."""

from typing import NamedTuple


class EventType(NamedTuple):
    type: str
    description: str
    category: str


EVENT_TYPES: tuple[EventType, ...] = (
    # The reference's eleven, in its order, with its exact descriptions.
    EventType("workflow.started", "Workflow execution has started", "workflow"),
    EventType("workflow.completed", "Workflow execution completed successfully", "workflow"),
    EventType("workflow.failed", "Workflow execution failed", "workflow"),
    EventType("job.enqueued", "Job has been added to the queue", "job"),
    EventType("job.started", "Job processing has started", "job"),
    EventType("job.completed", "Job completed successfully", "job"),
    EventType("job.failed", "Job processing failed", "job"),
    EventType("agent.executed", "Agent has executed an action", "agent"),
    EventType("test.suite.completed", "Test suite execution completed", "test"),
    EventType("webhook.triggered", "Webhook was triggered", "webhook"),
    EventType("email.sent", "Email was sent", "notification"),
    # Added by design §7.
    EventType("workflow.canceled", "Workflow execution was canceled", "workflow"),
    EventType("job.scheduled", "Job has been scheduled for later execution", "job"),
    EventType("job.retrying", "Job attempt failed and will be retried", "job"),
    EventType("job.cancelled", "Job was cancelled", "job"),
    EventType("deployment.created", "Deployment was created", "deployment"),
    EventType("deployment.updated", "Deployment was updated", "deployment"),
    EventType("deployment.deleted", "Deployment was deleted", "deployment"),
    EventType("deployment.executed", "Deployment execution was requested", "deployment"),
    EventType("execution.started", "Execution has started on a worker", "execution"),
    EventType("execution.completed", "Execution completed successfully", "execution"),
    EventType("execution.failed", "Execution failed", "execution"),
    EventType("config.created", "Config was created", "config"),
    EventType("config.updated", "Config was updated", "config"),
    EventType("config.deleted", "Config was deleted", "config"),
    EventType(
        "webhook.disabled",
        "Webhook was disabled after repeated delivery failures or a 410 Gone answer",
        "webhook",
    ),
    EventType("webhook.test", "Test event sent to verify a webhook", "webhook"),
)

EVENT_TYPE_NAMES: frozenset[str] = frozenset(t.type for t in EVENT_TYPES)
