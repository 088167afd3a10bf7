"""Submitting, scheduling and cancelling jobs; recurring jobs and their PeriodicTask rows.

Every django-celery-beat row a recurring job needs is written here and only here. Saving or
deleting a PeriodicTask instance bumps `PeriodicTasks.last_update` (django-celery-beat's
signals), which is how a running beat's DatabaseScheduler notices the change without a restart.
"""

import functools
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone as django_timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from codeai.api.exceptions import Conflict, ValidationFailed

from ..models import Job
from ..schedules import DEFAULT_TIMEZONE, next_fire_after, parse_cron, slot_at_or_before
from ..validation import cron_error, job_errors, timezone_error
from .common import (
    JOB_EVENT_COLUMNS,
    job_columns_sql,
    job_event,
    job_event_with,
    logger,
    new_task_id,
    publish_on_commit,
    rfc3339,
)

FIRE_TASK = "jobs.fire"
# A firing this close before its cron slot (beat's clock ahead of ours) still counts for it.
FIRE_TOLERANCE = timedelta(seconds=5)


def _new_job(
    *,
    task_type: str,
    payload: Any,
    queue: str | None,
    max_retries: int | None,
    timeout: int | None,
    metadata: dict[str, Any] | None,
    owner: str,
    extra_errors: dict[str, str] | None = None,
) -> Job:
    """An unsaved job with defaults applied; ValidationFailed lists every bad option."""
    queue = settings.CODEAI_QUEUES[0] if queue is None else queue
    if max_retries is None:
        max_retries = settings.CODEAI_JOB_DEFAULT_MAX_RETRIES
    metadata = {} if metadata is None else metadata
    errors = job_errors(
        task_type=task_type,
        payload=payload,
        queue=queue,
        max_retries=max_retries,
        timeout=timeout,
        metadata=metadata,
    )
    errors.update(extra_errors or {})
    if errors:
        raise ValidationFailed(errors)
    return Job(
        task_type=task_type,
        payload=payload,
        queue=queue,
        max_retries=max_retries,
        timeout=timeout,
        metadata=metadata,
        owner=owner,
        task_id=new_task_id(),
    )


def job_create(
    *,
    task_type: str,
    payload: Any = None,
    queue: str | None = None,
    max_retries: int | None = None,
    timeout: int | None = None,
    metadata: dict[str, Any] | None = None,
    owner: str = "",
) -> Job:
    """Submit a job to run now: pending, published to its queue when the transaction commits."""
    job = _new_job(
        task_type=task_type,
        payload=payload,
        queue=queue,
        max_retries=max_retries,
        timeout=timeout,
        metadata=metadata,
        owner=owner,
    )
    job.status = Job.Status.PENDING
    job.enqueued_at = django_timezone.now()
    if _insert_in_one_statement(job, event_type="job.enqueued"):
        publish_on_commit(job)  # at once, unless the caller has a transaction open
        return job
    with transaction.atomic():
        job.save(force_insert=True)
        publish_on_commit(job)  # first: on-commit callbacks run in order, the job goes out first
        job_event("job.enqueued", job)
    return job


@functools.cache
def _insert_statement() -> str:
    placeholders = ", ".join(["%s"] * len(Job._meta.concrete_fields))
    return (
        f"INSERT INTO {Job._meta.db_table} ({job_columns_sql()}) VALUES ({placeholders})"
        f" RETURNING {JOB_EVENT_COLUMNS}"
    )


def _insert_in_one_statement(job: Job, *, event_type: str) -> bool:
    """Insert the job with its event in one statement (emit_returning); False where that form
    is not available, and nothing was written."""
    values = [
        field.get_db_prep_save(field.pre_save(job, True), connection)
        for field in Job._meta.concrete_fields
    ]
    inserted = job_event_with(
        event_type, statement=_insert_statement(), params=values, with_attempt=False
    )
    if inserted is None:
        return False
    job._state.adding = False
    return True


def job_schedule(
    *,
    schedule_at: datetime,
    task_type: str,
    payload: Any = None,
    queue: str | None = None,
    max_retries: int | None = None,
    timeout: int | None = None,
    metadata: dict[str, Any] | None = None,
    owner: str = "",
) -> Job:
    """Run a job once at `schedule_at`; a time not in the future runs it now.

    A job due within CODEAI_JOB_ETA_HORIZON_SECONDS is published at once with that ETA (the
    worker starts it on time); a later one waits in the database until the sweep publishes it
    as it enters the horizon, so no worker holds far-future messages.
    """
    job = _new_job(
        task_type=task_type,
        payload=payload,
        queue=queue,
        max_retries=max_retries,
        timeout=timeout,
        metadata=metadata,
        owner=owner,
    )
    now = django_timezone.now()
    job.scheduled_at = schedule_at
    with transaction.atomic():
        if schedule_at <= now:
            job.status = Job.Status.PENDING
            job.enqueued_at = now
            job.save(force_insert=True)
            publish_on_commit(job)
            job_event("job.enqueued", job, scheduled_at=rfc3339(schedule_at))
            return job
        job.status = Job.Status.SCHEDULED
        job.next_run_at = schedule_at
        horizon = now + timedelta(seconds=settings.CODEAI_JOB_ETA_HORIZON_SECONDS)
        job.enqueued_at = now if schedule_at <= horizon else None
        job.save(force_insert=True)
        if job.enqueued_at:
            publish_on_commit(job, eta=schedule_at)
        job_event("job.scheduled", job, scheduled_at=rfc3339(schedule_at))
    return job


def _crontab(spec: str, timezone_name: str) -> CrontabSchedule:
    fields = parse_cron(spec)
    values = {
        "minute": fields.minute,
        "hour": fields.hour,
        "day_of_month": fields.day_of_month,
        "month_of_year": fields.month_of_year,
        "day_of_week": fields.day_of_week,
        "timezone": timezone_name,
    }
    existing = CrontabSchedule.objects.filter(**values).order_by("pk").first()
    return existing or CrontabSchedule.objects.create(**values)


def _schedule_errors(cron_spec: Any, timezone_name: Any) -> dict[str, str]:
    errors = {"cron_spec": cron_error(cron_spec), "timezone": timezone_error(timezone_name)}
    return {name: message for name, message in errors.items() if message}


def job_create_recurring(
    *,
    cron_spec: str,
    task_type: str,
    timezone: str | None = None,
    payload: Any = None,
    queue: str | None = None,
    max_retries: int | None = None,
    timeout: int | None = None,
    metadata: dict[str, Any] | None = None,
    owner: str = "",
) -> Job:
    """A recurring parent job plus the PeriodicTask whose firings create its child runs."""
    timezone_name = timezone or DEFAULT_TIMEZONE
    job = _new_job(
        task_type=task_type,
        payload=payload,
        queue=queue,
        max_retries=max_retries,
        timeout=timeout,
        metadata=metadata,
        owner=owner,
        extra_errors=_schedule_errors(cron_spec, timezone_name),
    )
    now = django_timezone.now()
    job.status = Job.Status.SCHEDULED
    job.cron_spec = cron_spec.strip()
    job.timezone = timezone_name
    job.next_run_at = next_fire_after(job.cron_spec, timezone_name, now)
    with transaction.atomic():
        job.save(force_insert=True)
        job.periodic_task = PeriodicTask.objects.create(
            name=f"job {job.id}",
            task=FIRE_TASK,
            args=json.dumps([job.id]),
            crontab=_crontab(job.cron_spec, timezone_name),
            queue=job.queue,
            description=f"Recurring job {job.id} ({job.task_type}); managed by the jobs app",
        )
        job.save(update_fields=["periodic_task"])
        job_event(
            "job.scheduled",
            job,
            cron_spec=job.cron_spec,
            timezone=timezone_name,
            next_run_at=rfc3339(job.next_run_at),
        )
    return job


def job_reschedule_recurring(*, job: Job, cron_spec: str, timezone: str | None = None) -> Job:
    """Change an active recurring job's schedule; beat picks it up without a restart."""
    timezone_name = timezone or job.timezone or DEFAULT_TIMEZONE
    errors = _schedule_errors(cron_spec, timezone_name)
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        if not locked.is_recurring or locked.status != Job.Status.SCHEDULED:
            raise Conflict("only an active recurring job can be rescheduled", {"id": locked.id})
        locked.cron_spec = cron_spec.strip()
        locked.timezone = timezone_name
        locked.next_run_at = next_fire_after(locked.cron_spec, timezone_name, django_timezone.now())
        crontab = _crontab(locked.cron_spec, timezone_name)
        task = PeriodicTask.objects.filter(pk=locked.periodic_task_id).first()
        if task is None:  # removed behind our back (e.g. in the admin): recreate it
            task = PeriodicTask(
                name=f"job {locked.id}", task=FIRE_TASK, args=json.dumps([locked.id])
            )
        task.crontab = crontab
        task.queue = locked.queue
        task.enabled = True
        task.save()
        locked.periodic_task = task
        locked.save(
            update_fields=["cron_spec", "timezone", "next_run_at", "periodic_task", "updated_at"]
        )
        job_event(
            "job.scheduled",
            locked,
            cron_spec=locked.cron_spec,
            timezone=timezone_name,
            next_run_at=rfc3339(locked.next_run_at),
        )
    return locked


def _revoke(task_id: str) -> None:
    """Stop a running attempt: SIGUSR1 raises Celery's SoftTimeLimitExceeded inside the handler
    (prefork pool), so the pool process survives; other pools rely on the cooperative check."""
    from codeai.celery import app

    try:
        app.control.revoke(task_id, terminate=True, signal="SIGUSR1")
    except Exception:
        logger.warning(
            "revoke not sent; the worker stops at its next check", extra={"task": task_id}
        )


def job_cancel(*, job: Job) -> Job:
    """Cancel a pending, scheduled, retrying or running job (409 once it has finished).

    A recurring job's PeriodicTask is deleted, so no more firings; its earlier runs are jobs of
    their own and are not touched. A message that arrives later for a cancelled job does nothing.
    """
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        if locked.is_finished:
            raise Conflict("job is already finished", {"status": locked.status})
        previous = locked.status
        locked.status = Job.Status.CANCELLED
        locked.next_run_at = None
        if locked.periodic_task_id:
            task = PeriodicTask.objects.filter(pk=locked.periodic_task_id).first()
            if task is not None:
                task.delete()
            locked.periodic_task = None
        locked.save(update_fields=["status", "next_run_at", "periodic_task", "updated_at"])
        job_event("job.cancelled", locked, previous_status=previous)
        if previous == Job.Status.RUNNING and locked.task_id:
            task_id = locked.task_id
            transaction.on_commit(lambda: _revoke(task_id))
    return locked


def job_fire_recurring(*, job_id: str) -> Job | None:
    """One firing of a recurring job: create and run ONE child job.

    A firing belongs to the latest cron slot at or before now (+ FIRE_TOLERANCE, for a beat
    clock slightly ahead), and `last_run_at` records that slot. A firing whose slot already
    fired does nothing: a beat restart that re-sends, a backlog of firing messages after the
    workers were down, or a second beat. Slots missed while beat was down are not replayed:
    beat sends one firing on recovery, and it creates one run.
    """
    now = django_timezone.now()
    with transaction.atomic():
        parent = Job.objects.select_for_update().filter(pk=job_id).exclude(cron_spec="").first()
        if parent is None or parent.status != Job.Status.SCHEDULED:
            return None
        slot = slot_at_or_before(parent.cron_spec, parent.timezone, now + FIRE_TOLERANCE)
        if parent.last_run_at is not None and slot <= parent.last_run_at:
            return None
        child = Job(
            task_type=parent.task_type,
            payload=parent.payload,
            queue=parent.queue,
            max_retries=parent.max_retries,
            timeout=parent.timeout,
            metadata=parent.metadata,
            owner=parent.owner,
            parent=parent,
            status=Job.Status.PENDING,
            task_id=new_task_id(),
            enqueued_at=now,
        )
        child.save(force_insert=True)
        parent.last_run_at = slot
        parent.next_run_at = next_fire_after(parent.cron_spec, parent.timezone, slot)
        parent.save(update_fields=["last_run_at", "next_run_at", "updated_at"])
        publish_on_commit(child)
        job_event("job.enqueued", child)
    return child


def jobs_remove_for_owner(*, owner: str) -> int:
    """Cancel every open job `owner` manages (recurring ones stop firing); returns how many."""
    if not owner:
        raise ValueError("owner must not be empty")
    cancelled = 0
    with transaction.atomic():
        for job in Job.objects.filter(owner=owner, status__in=Job.OPEN_STATUSES):
            try:
                job_cancel(job=job)
            except Conflict:  # finished meanwhile
                continue
            cancelled += 1
    return cancelled


def jobs_replace_recurring_for_owner(
    *, owner: str, recurring: Iterable[dict[str, Any]]
) -> list[Job]:
    """Make `owner`'s active recurring jobs exactly `recurring`, atomically.

    Each item holds job_create_recurring() keyword arguments (cron_spec, task_type, and
    optionally timezone, payload, queue, max_retries, timeout, metadata). The owner's current
    recurring jobs are cancelled and the new ones created in one transaction; any invalid item
    raises ValidationFailed (details prefixed `recurring.<index>.`) and changes nothing.
    """
    if not owner:
        raise ValueError("owner must not be empty")
    items = list(recurring)
    with transaction.atomic():
        for job in Job.objects.filter(
            owner=owner, status=Job.Status.SCHEDULED, parent__isnull=True
        ).exclude(cron_spec=""):
            job_cancel(job=job)
        created = []
        for index, item in enumerate(items):
            try:
                created.append(job_create_recurring(**item, owner=owner))
            except ValidationFailed as exc:
                raise ValidationFailed(
                    {f"recurring.{index}.{key}": value for key, value in exc.details.items()}
                ) from None
    return created
