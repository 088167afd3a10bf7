from django.db import models

from codeai.api.lookups import new_prefixed_id


def new_job_id() -> str:
    return new_prefixed_id("job-")


class Job(models.Model):
    """One unit of background work, and the source of truth for it (Celery carries only the id).

    A job with a `cron_spec` is a recurring parent: it never runs itself; every firing of its
    django-celery-beat PeriodicTask creates one child job (`parent`) that runs once.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SCHEDULED = "scheduled"
        RUNNING = "running"
        RETRYING = "retrying"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    # Waiting for a worker: a message for the job may start it.
    RUNNABLE_STATUSES = (Status.PENDING, Status.SCHEDULED, Status.RETRYING)
    OPEN_STATUSES = (*RUNNABLE_STATUSES, Status.RUNNING)
    FINAL_STATUSES = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    id = models.CharField(primary_key=True, max_length=48, default=new_job_id, editable=False)
    task_type = models.CharField(max_length=200)
    payload = models.JSONField(null=True, blank=True)
    queue = models.CharField(max_length=100)
    max_retries = models.PositiveSmallIntegerField()
    timeout = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds per attempt; empty means the default."
    )
    metadata = models.JSONField(default=dict, blank=True)
    owner = models.CharField(
        max_length=200, blank=True, default="", help_text="The feature that manages this job."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    cron_spec = models.CharField(max_length=200, blank=True, default="")
    timezone = models.CharField(max_length=64, blank=True, default="")
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="runs",
        db_index=False,  # job_parent_created leads with parent
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    # Delivery bookkeeping: the id of the one Celery message allowed to start the next attempt,
    # when it was published (null: not published yet), and who runs the current attempt.
    task_id = models.CharField(max_length=64, blank=True, default="")
    enqueued_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="job_created"),
            models.Index(fields=["status", "-created_at"], name="job_status_created"),
            models.Index(fields=["task_type", "-created_at"], name="job_type_created"),
            models.Index(fields=["queue", "status"], name="job_queue_status"),
            models.Index(fields=["parent", "-created_at"], name="job_parent_created"),
            models.Index(fields=["owner"], name="job_owner", condition=~models.Q(owner="")),
            # The sweep's scans: open jobs only.
            models.Index(
                fields=["status", "next_run_at"],
                name="job_open_due",
                condition=models.Q(status__in=["pending", "scheduled", "retrying", "running"]),
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_recurring(self) -> bool:
        return bool(self.cron_spec)

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINAL_STATUSES


class Heartbeat(models.Model):
    """A named liveness timestamp, e.g. `scheduler`: written by a beat-scheduled task."""

    name = models.CharField(primary_key=True, max_length=64)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.beat_at.isoformat()}"
