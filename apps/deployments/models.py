import uuid

from django.db import models

from codeai.api.lookups import new_prefixed_id


class Deployment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        STOPPED = "stopped"
        FAILED = "failed"
        COMPLETE = "complete"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255, unique=True)
    config = models.ForeignKey(
        "configs.Config",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deployments",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


def new_execution_id() -> str:
    return new_prefixed_id("exec-")


class Execution(models.Model):
    """One run of a deployment's program. Outlives its deployment (deployment_ref keeps the id)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"

    OPEN_STATUSES = (Status.PENDING, Status.RUNNING)

    id = models.CharField(primary_key=True, max_length=48, default=new_execution_id, editable=False)
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="executions"
    )
    deployment_ref = models.UUIDField(db_index=True)
    command = models.CharField(max_length=32, default="execute")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    variables = models.JSONField(default=dict, blank=True)
    output = models.TextField(blank=True, default="")
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Bookkeeping for the sweep (not in the API): when its message was last published, and
    # when a worker began running it.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    run_started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(
                fields=["status"],
                name="execution_open",
                condition=models.Q(status__in=["pending", "running"]),
            )
        ]

    def __str__(self) -> str:
        return self.id
