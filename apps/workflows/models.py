"""Workflow runs: a durable row per run, a row per step, an append-only history.

The rows are the state; Celery messages carry only a run id and a step id (docs/workflows.md).
"""

from django.db import models
from django.db.models import Q

from codeai.api.lookups import new_prefixed_id


def new_run_id() -> str:
    return new_prefixed_id("run-")


class WorkflowRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELED = "canceled"
        TIMED_OUT = "timed_out"

    OPEN_STATUSES = (Status.PENDING, Status.RUNNING)

    class Kind(models.TextChoices):
        AI_PIPELINE = "ai-pipeline"
        TEST_SUITE = "test-suite"
        DEPLOYED = "deployed"

    id = models.CharField(primary_key=True, max_length=48, default=new_run_id, editable=False)
    workflow_id = models.CharField(max_length=255, db_index=True)
    workflow_type = models.CharField(max_length=600, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    # The plan the run follows, frozen at start: later config or code changes do not alter it.
    definition = models.JSONField(default=dict, blank=True)
    timeout_seconds = models.FloatField(null=True, blank=True)
    retry_policy = models.JSONField(default=dict, blank=True)
    deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    cancel_reason = models.TextField(blank=True, default="")
    last_event_id = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow_id"],
                condition=Q(status__in=["pending", "running"]),
                name="workflows_one_open_run_per_workflow_id",
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.workflow_id} ({self.id})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class WorkflowStep(models.Model):
    class Kind(models.TextChoices):
        AGENT = "agent"
        TEST = "test"
        ACTIVITY = "activity"

    class Status(models.TextChoices):
        PENDING = "pending"
        SCHEDULED = "scheduled"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        TIMED_OUT = "timed_out"
        CANCELED = "canceled"
        SKIPPED = "skipped"

    FINAL_STATUSES = (
        Status.COMPLETED,
        Status.FAILED,
        Status.TIMED_OUT,
        Status.CANCELED,
        Status.SKIPPED,
    )

    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Steps of one group run together (a `parallel` block); groups run one after another.
    group = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    timeout_seconds = models.FloatField()
    retry_policy = models.JSONField(default=dict, blank=True)
    task_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    # When its message should start it (after a retry countdown); the sweep re-sends lost ones.
    due_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # When the current attempt started; its ActivityTaskStarted is written when it ends.
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "index"], name="workflows_step_index_unique")
        ]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.index} {self.name}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class WorkflowHistoryEvent(models.Model):
    """Append-only: rows are created, never changed. `event_id` counts from 1 within a run."""

    class Type(models.TextChoices):
        WORKFLOW_EXECUTION_STARTED = "WorkflowExecutionStarted"
        ACTIVITY_TASK_SCHEDULED = "ActivityTaskScheduled"
        ACTIVITY_TASK_STARTED = "ActivityTaskStarted"
        ACTIVITY_TASK_COMPLETED = "ActivityTaskCompleted"
        ACTIVITY_TASK_FAILED = "ActivityTaskFailed"
        ACTIVITY_TASK_TIMED_OUT = "ActivityTaskTimedOut"
        ACTIVITY_TASK_CANCELED = "ActivityTaskCanceled"
        WORKFLOW_EXECUTION_CANCEL_REQUESTED = "WorkflowExecutionCancelRequested"
        WORKFLOW_EXECUTION_COMPLETED = "WorkflowExecutionCompleted"
        WORKFLOW_EXECUTION_FAILED = "WorkflowExecutionFailed"
        WORKFLOW_EXECUTION_CANCELED = "WorkflowExecutionCanceled"
        WORKFLOW_EXECUTION_TIMED_OUT = "WorkflowExecutionTimedOut"

    run = models.ForeignKey(WorkflowRun, on_delete=models.CASCADE, related_name="history")
    event_id = models.PositiveIntegerField()
    event_type = models.CharField(max_length=48, choices=Type.choices)
    timestamp = models.DateTimeField()
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "event_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "event_id"], name="workflows_history_event_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.event_id} {self.event_type}"
