"""Pieces every jobs service shares: events, publishing `jobs.run`, defaults."""

import logging
import random
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from apps.events.services import emit, emit_returning
from codeai.api.durations import format_duration

from ..models import Job

logger = logging.getLogger("apps.jobs")

SOURCE = "job-scheduler"
RETRY_JITTER = 0.2


def new_task_id() -> str:
    return str(uuid.uuid4())


def effective_timeout(job: Job) -> int:
    """Seconds one attempt may run: the job's own timeout or CODEAI_JOB_DEFAULT_TIMEOUT_SECONDS."""
    return job.timeout or settings.CODEAI_JOB_DEFAULT_TIMEOUT_SECONDS


def timeout_message(job: Job) -> str:
    return f"timed out after {format_duration(effective_timeout(job))}"


def retry_delay(attempt: int) -> float:
    """Seconds before the retry that follows failed attempt `attempt` (1-based).

    Exponential (base × 2^(attempt-1)), capped, with ±20 % jitter so failing jobs spread out.
    """
    base = float(settings.CODEAI_JOB_RETRY_BASE_SECONDS)
    cap = float(settings.CODEAI_JOB_RETRY_MAX_SECONDS)
    delay = min(cap, base * 2 ** min(attempt - 1, 32))
    return min(cap, delay * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER))


def rfc3339(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def job_event(type: str, job: Job, **data: Any) -> None:
    """Emit a job.* event in the caller's transaction."""
    body: dict[str, Any] = {
        "job_id": job.id,
        "task_type": job.task_type,
        "queue": job.queue,
        "status": job.status,
    }
    if job.parent_id:
        body["parent_id"] = job.parent_id
    if job.owner:
        body["owner"] = job.owner
    body.update(data)
    metadata = job.metadata if isinstance(job.metadata, dict) else {}
    emit(type=type, source=SOURCE, data=body, metadata=metadata)


# job_event()'s body and metadata as SQL over a jobs_job row, for job_event_with(). Keep them in
# step with job_event(): the tests compare the events both ways produce.
JOB_EVENT_COLUMNS = "id, task_type, queue, status, parent_id, owner, metadata, attempts"
_DATA_SQL = (
    "jsonb_build_object('job_id', id, 'task_type', task_type, 'queue', queue, 'status', status)"
    " || CASE WHEN parent_id IS NULL THEN '{}'::jsonb"
    " ELSE jsonb_build_object('parent_id', parent_id) END"
    " || CASE WHEN owner = '' THEN '{}'::jsonb ELSE jsonb_build_object('owner', owner) END"
)
_WITH_ATTEMPT_SQL = " || jsonb_build_object('attempt', attempts)"
_METADATA_SQL = "CASE WHEN jsonb_typeof(metadata) = 'object' THEN metadata ELSE '{}'::jsonb END"


def job_event_with(
    type: str,
    *,
    statement: str,
    params: list[Any],
    with_attempt: bool,
    model: type[Job] | None = None,
    durable: bool = True,
) -> list[Any] | None:
    """job_event() in one statement with the change (emit_returning): `statement` returns at
    least JOB_EVENT_COLUMNS of each job it changed. None where that form is not available."""
    return emit_returning(
        type=type,
        source=SOURCE,
        data=_DATA_SQL + (_WITH_ATTEMPT_SQL if with_attempt else ""),
        metadata=_METADATA_SQL,
        statement=statement,
        params=params,
        model=model,
        durable=durable,
    )


def job_columns_sql() -> str:
    """Every column of jobs_job, quoted, in field order."""
    return ", ".join(f'"{field.column}"' for field in Job._meta.concrete_fields)


def publish(
    *, job_id: str, task_id: str, queue: str, timeout: int, eta: datetime | None = None
) -> bool:
    """Send the `jobs.run` message whose id is the job's `task_id`.

    The per-attempt timeout travels as Celery's soft limit (raises in the handler) and hard limit
    (kills the pool process as a backstop). When the broker refuses the message the row is marked
    unpublished (`enqueued_at` null) and the beat sweep publishes it later.
    """
    from ..tasks import job_run_task

    try:
        job_run_task.apply_async(
            (job_id,),
            task_id=task_id,
            queue=queue,
            eta=eta,
            soft_time_limit=timeout,
            time_limit=timeout + settings.CODEAI_JOB_HARD_TIMEOUT_GRACE_SECONDS,
        )
    except Exception:
        logger.warning("job not published; the sweep will retry", extra={"job": job_id})
        Job.objects.filter(pk=job_id, task_id=task_id).update(enqueued_at=None)
        return False
    return True


def publish_on_commit(job: Job, *, eta: datetime | None = None) -> None:
    """Publish the job's current message once the caller's transaction has committed."""
    job_id, task_id, queue, timeout = job.id, job.task_id, job.queue, effective_timeout(job)
    transaction.on_commit(
        lambda: publish(job_id=job_id, task_id=task_id, queue=queue, timeout=timeout, eta=eta)
    )
