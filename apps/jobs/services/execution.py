"""Running jobs on workers: claim, execute, record; retries, timeouts, lost workers, the sweep.

Exactly-once bookkeeping: every message that may start an attempt has an id, and the job row
stores the one id currently allowed (`task_id`). An attempt starts only when that message
claims the row under a row lock while the job is runnable; its outcome is recorded only if the
row still belongs to that attempt. So a redelivered, duplicated or stale message does nothing,
a completed job never runs again, and a cancelled one never starts or records anything.
"""

import functools
import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from codeai.celery import soft_time_limit_allowed, soft_time_limit_held

from ..handlers import JobContext, JobError, JobTimeout, PermanentJobError, get_handler
from ..models import Job
from .common import (
    JOB_EVENT_COLUMNS,
    effective_timeout,
    job_columns_sql,
    job_event,
    job_event_with,
    logger,
    new_task_id,
    publish,
    publish_on_commit,
    retry_delay,
    rfc3339,
    timeout_message,
)

MAX_RESULT_BYTES = 1024 * 1024
SWEEP_BATCH = 500

# True in a prefork pool process, where Celery enforces soft/hard time limits with signals.
# Elsewhere (threads, solo, gevent pools) the handler runs in a helper thread we can stop
# waiting for: the attempt fails on time, but the abandoned thread cannot be killed.
_pool_enforces_time_limits = False


def mark_pool_enforces_time_limits() -> None:
    global _pool_enforces_time_limits
    _pool_enforces_time_limits = True


@dataclass(frozen=True)
class Outcome:
    ok: bool
    result: Any = None
    error: str = ""
    permanent: bool = False


class _Cancelled(Exception):
    pass


# --- Heartbeats and cancellation ----------------------------------------------------------------


@dataclass(frozen=True)
class _Watched:
    task_id: str
    attempt: int
    cancelled: threading.Event
    in_handler: threading.Event  # set while a prefork process runs the handler inline

    def stop(self) -> None:
        """Tell the handler to stop. Inline on prefork, also interrupt it the way Celery's soft
        time limit (and `revoke(terminate=True, signal="SIGUSR1")`) does: a revoke broadcast can
        be lost, or land while the attempt is not yet in the handler."""
        self.cancelled.set()
        if self.in_handler.is_set():
            os.kill(os.getpid(), signal.SIGUSR1)


class _Supervisor:
    """One daemon thread per process: heartbeats for the attempts running in it, and notice of
    cancellation (or takeover) for each, every CODEAI_JOB_HEARTBEAT_SECONDS. It exits, closing
    its database connection, as soon as nothing is running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[str, _Watched] = {}
        self._thread: threading.Thread | None = None
        self._pid = 0

    def watch(self, context: JobContext, task_id: str, in_handler: threading.Event) -> None:
        with self._lock:
            self._watched[context.job_id] = _Watched(
                task_id, context.attempt, context.cancelled, in_handler
            )
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._loop, name="jobs-supervisor", daemon=True
                )
                self._thread.start()

    def unwatch(self, job_id: str) -> None:
        with self._lock:
            self._watched.pop(job_id, None)

    def _loop(self) -> None:
        try:
            while True:
                time.sleep(float(settings.CODEAI_JOB_HEARTBEAT_SECONDS))
                with self._lock:
                    watched = dict(self._watched)
                    if not watched:
                        self._thread = None
                        return
                self._beat(watched)
        finally:
            connections.close_all()

    @staticmethod
    def _beat(watched: dict[str, _Watched]) -> None:
        try:
            rows = Job.objects.filter(pk__in=list(watched)).values_list(
                "id", "status", "task_id", "attempts"
            )
            alive, moved_on = [], []
            for job_id, status, task_id, attempts in rows:
                mine = watched[job_id]
                if (status, task_id, attempts) == (Job.Status.RUNNING, mine.task_id, mine.attempt):
                    alive.append(job_id)
                else:  # cancelled, or recovered by the sweep and retried elsewhere
                    moved_on.append(job_id)
            if alive:
                Job.objects.filter(pk__in=alive).update(heartbeat_at=timezone.now())
            for job_id in moved_on:
                watched[job_id].stop()
        except Exception:
            logger.exception("job heartbeat failed")


_supervisor = _Supervisor()


# --- One attempt --------------------------------------------------------------------------------


def _lost_error(job: Job, now: datetime) -> str:
    deadline = (
        job.started_at + timedelta(seconds=effective_timeout(job)) if job.started_at else None
    )
    if deadline is not None and now >= deadline:
        return timeout_message(job)
    return f"worker {job.worker or 'unknown'} was lost during attempt {job.attempts}"


def _attempt_failed(job: Job, *, error: str, now: datetime, permanent: bool = False) -> None:
    """Record a failed attempt on a locked row: a retry after backoff, or the job fails."""
    job.error = error
    job.heartbeat_at = None
    if not permanent and job.attempts <= job.max_retries:
        delay = retry_delay(job.attempts)
        job.status = Job.Status.RETRYING
        job.next_run_at = now + timedelta(seconds=delay)
        job.task_id = new_task_id()
        job.enqueued_at = now
        job.save()
        publish_on_commit(job, eta=job.next_run_at)
        job_event(
            "job.retrying",
            job,
            attempt=job.attempts,
            error=error,
            retry_at=rfc3339(job.next_run_at),
        )
        return
    job.status = Job.Status.FAILED
    job.failed_at = now
    job.next_run_at = None
    job.save()
    job_event("job.failed", job, attempt=job.attempts, error=error)


@functools.cache
def _transition_statements() -> tuple[str, str]:
    """The claim and the completion as one guarded UPDATE each, for emit_returning()."""
    table = Job._meta.db_table
    claim = (
        f"UPDATE {table} SET status = %s, attempts = attempts + 1, started_at = %s,"
        " heartbeat_at = %s, worker = %s, next_run_at = NULL, updated_at = %s"
        " WHERE id = %s AND task_id = %s AND cron_spec = '' AND status IN (%s, %s, %s)"
        f" RETURNING {job_columns_sql()}"
    )
    complete = (
        f"UPDATE {table} SET status = %s, result = %s, error = '', completed_at = %s,"
        " heartbeat_at = NULL, updated_at = %s"
        " WHERE id = %s AND status = %s AND task_id = %s AND attempts = %s"
        f" RETURNING {JOB_EVENT_COLUMNS}"
    )
    return claim, complete


def _claim(*, job_id: str, task_id: str, worker: str) -> Job | None:
    """Start an attempt if this message is the job's current one and the job is runnable."""
    now = timezone.now()
    # The common case in one statement: this message's job, runnable, becomes running with its
    # job.started event. Anything else (no one-statement form here, or nothing matched) takes
    # the locked path, which decides the rare cases: a message not (or no longer) the job's,
    # and an attempt's own message coming back after its worker was lost.
    claimed = job_event_with(
        "job.started",
        statement=_transition_statements()[0],
        params=[
            Job.Status.RUNNING.value,
            now,
            now,
            worker[:255],
            now,
            job_id,
            task_id,
            *(status.value for status in Job.RUNNABLE_STATUSES),
        ],
        with_attempt=True,
        model=Job,
        # Losing the claim in a database crash only runs the job again: the completion, a
        # durable commit, applies only to a claimed attempt (docs/jobs.md).
        durable=False,
    )
    if claimed:
        return claimed[0]
    lost_after = timedelta(seconds=float(settings.CODEAI_JOB_LOST_AFTER_SECONDS))
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_recurring or job.task_id != task_id:
            return None
        if job.status == Job.Status.RUNNING:
            # This attempt's own message came back (reject-on-worker-lost, or the broker's
            # visibility timeout). With a fresh heartbeat the attempt is still running elsewhere.
            if job.heartbeat_at is not None and job.heartbeat_at > now - lost_after:
                return None
            _attempt_failed(job, error=_lost_error(job, now), now=now)
            return None
        if job.status not in Job.RUNNABLE_STATUSES:
            return None
        job.status = Job.Status.RUNNING
        job.attempts += 1
        job.started_at = now
        job.heartbeat_at = now
        job.worker = worker[:255]
        job.next_run_at = None
        job.save(
            update_fields=[
                "status",
                "attempts",
                "started_at",
                "heartbeat_at",
                "worker",
                "next_run_at",
                "updated_at",
            ]
        )
        job_event("job.started", job, attempt=job.attempts)
    return job


def _call_in_helper_thread(func, payload: Any, context: JobContext) -> Any:
    """Run the handler in a thread and stop waiting at the deadline or on cancellation."""
    done = threading.Event()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = func(payload, context)
        except BaseException as exc:
            box["error"] = exc
        finally:
            connections.close_all()  # this thread's own connections
            done.set()

    threading.Thread(target=target, name=f"job-{context.job_id}", daemon=True).start()
    while not done.wait(min(0.25, max(context.remaining(), 0.001))):
        if context.cancelled.is_set():
            raise _Cancelled()
        if context.remaining() <= 0:
            context.cancelled.set()  # cooperative handlers see it and stop
            raise JobTimeout("timed out")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _execute(job: Job, task_id: str) -> Outcome:
    context = JobContext(
        job_id=job.id,
        task_type=job.task_type,
        queue=job.queue,
        attempt=job.attempts,
        max_retries=job.max_retries,
        timeout=float(effective_timeout(job)),
        metadata=job.metadata if isinstance(job.metadata, dict) else {},
        parent_id=job.parent_id,
        owner=job.owner,
    )
    in_handler = threading.Event()
    _supervisor.watch(context, task_id, in_handler)
    try:
        handler = get_handler(job.task_type)
        if handler is None:
            raise PermanentJobError(f"task type {job.task_type} is not registered on this worker")
        func = handler.load()
        if _pool_enforces_time_limits:
            in_handler.set()
            try:
                with soft_time_limit_allowed():  # the handler, not the database writes around it
                    value = func(job.payload, context)
            finally:
                in_handler.clear()
        else:
            value = _call_in_helper_thread(func, job.payload, context)
    except (SoftTimeLimitExceeded, JobTimeout):
        return Outcome(ok=False, error=timeout_message(job))
    except _Cancelled:
        return Outcome(ok=False, error="cancelled", permanent=True)
    except PermanentJobError as exc:
        return Outcome(ok=False, error=str(exc) or "failed", permanent=True)
    except JobError as exc:
        return Outcome(ok=False, error=str(exc) or "failed")
    except Exception as exc:
        logger.info("job attempt raised", extra={"job": job.id}, exc_info=True)
        return Outcome(ok=False, error=f"{type(exc).__name__}: {exc}")
    finally:
        _supervisor.unwatch(job.id)
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        return Outcome(ok=False, error=f"result is not JSON-serialisable: {exc}", permanent=True)
    if size > MAX_RESULT_BYTES:
        return Outcome(
            ok=False,
            error=f"result is too large ({size} bytes, at most {MAX_RESULT_BYTES})",
            permanent=True,
        )
    return Outcome(ok=True, result=value)


def _this_attempt(job: Job, task_id: str):
    return Job.objects.filter(
        pk=job.pk, status=Job.Status.RUNNING, task_id=task_id, attempts=job.attempts
    )


def _mark_completed(job: Job, result: Any, now: datetime) -> None:
    job.status, job.result, job.error = Job.Status.COMPLETED, result, ""
    job.completed_at, job.heartbeat_at, job.updated_at = now, None, now


def _complete(*, job: Job, task_id: str, result: Any, now: datetime) -> bool:
    """Record a successful attempt, only while the row still belongs to it: one guarded UPDATE
    (PostgreSQL re-checks its WHERE clause after waiting for a concurrent writer) with the
    job.completed event. False if the row moved on (cancelled or taken over)."""
    attempt = job.attempts
    completed = job_event_with(
        "job.completed",
        statement=_transition_statements()[1],
        params=[
            Job.Status.COMPLETED.value,
            Job._meta.get_field("result").get_db_prep_save(result, connection),
            now,
            now,
            job.pk,
            Job.Status.RUNNING.value,
            task_id,
            attempt,
        ],
        with_attempt=True,
    )
    if completed is None:  # no one-statement form here: the same through the ORM
        with transaction.atomic():
            completed = _this_attempt(job, task_id).update(
                status=Job.Status.COMPLETED,
                result=result,
                error="",
                completed_at=now,
                heartbeat_at=None,
                updated_at=now,
            )
            if completed:
                _mark_completed(job, result, now)
                job_event("job.completed", job, attempt=attempt)
        return bool(completed)
    if completed:
        _mark_completed(job, result, now)
    return bool(completed)


def _finish(*, job: Job, task_id: str, outcome: Outcome) -> Job | None:
    """Record the attempt's outcome, unless the row moved on (cancelled or taken over)."""
    now = timezone.now()
    if outcome.ok:
        if _complete(job=job, task_id=task_id, result=outcome.result, now=now):
            return job
    else:
        with transaction.atomic():
            locked = _this_attempt(job, task_id).select_for_update().first()
            if locked is not None:
                _attempt_failed(locked, error=outcome.error, now=now, permanent=outcome.permanent)
                return locked
    logger.info("job attempt outcome discarded", extra={"job": job.pk, "attempt": job.attempts})
    return Job.objects.filter(pk=job.pk).first()


def job_run(*, job_id: str, task_id: str, worker: str = "") -> Job | None:
    """Run one attempt of a job for the `jobs.run` message `task_id` (a no-op if not its turn).
    Celery's soft time limit (and a cancel's revoke) can stop the handler, never a database
    write (codeai.celery.soft_time_limit_held); a cancel arriving outside the handler is sent
    again by the heartbeat while the attempt runs."""
    with soft_time_limit_held():
        job = _claim(job_id=job_id, task_id=task_id, worker=worker)
        if job is None:
            return None
        outcome = _execute(job, task_id)
        return _finish(job=job, task_id=task_id, outcome=outcome)


# --- The sweep ------------------------------------------------------------------------------------


def _publish_unpublished(now: datetime) -> int:
    """Jobs whose message was never sent (broker down at commit, or due beyond the horizon)."""
    horizon = now + timedelta(seconds=settings.CODEAI_JOB_ETA_HORIZON_SECONDS)
    rows = (
        Job.objects.filter(status__in=Job.RUNNABLE_STATUSES, cron_spec="", enqueued_at=None)
        .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=horizon))
        .order_by()
        .values_list("id", "task_id", "queue", "timeout", "next_run_at")[:SWEEP_BATCH]
    )
    published = 0
    for job_id, task_id, queue, timeout, due in rows:
        if Job.objects.filter(pk=job_id, task_id=task_id, enqueued_at=None).update(enqueued_at=now):
            seconds = timeout or settings.CODEAI_JOB_DEFAULT_TIMEOUT_SECONDS
            eta = due if due and due > now else None
            published += publish(
                job_id=job_id, task_id=task_id, queue=queue, timeout=seconds, eta=eta
            )
    return published


def _republish_stuck(now: datetime) -> int:
    """Runnable jobs long past due with their message published: the message was lost (e.g. a
    worker holding an ETA message died on a broker without redelivery). Same message id, so if
    the original turns up after all, whichever arrives second does nothing."""
    cutoff = now - timedelta(seconds=settings.CODEAI_JOB_REQUEUE_AFTER_SECONDS)
    rows = (
        Job.objects.filter(status__in=Job.RUNNABLE_STATUSES, cron_spec="", enqueued_at__lt=cutoff)
        .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lt=cutoff))
        .order_by()
        .values_list("id", "task_id", "queue", "timeout", "enqueued_at")[:SWEEP_BATCH]
    )
    republished = 0
    for job_id, task_id, queue, timeout, enqueued_at in rows:
        if Job.objects.filter(pk=job_id, task_id=task_id, enqueued_at=enqueued_at).update(
            enqueued_at=now
        ):
            seconds = timeout or settings.CODEAI_JOB_DEFAULT_TIMEOUT_SECONDS
            republished += publish(job_id=job_id, task_id=task_id, queue=queue, timeout=seconds)
    return republished


def _recover_lost(now: datetime) -> int:
    """Running attempts whose heartbeat stopped: their worker died (or hit the hard time limit).
    The attempt counts as failed — a timeout if it outlived its deadline — and is retried if
    retries remain."""
    stale = now - timedelta(seconds=float(settings.CODEAI_JOB_LOST_AFTER_SECONDS))
    stuck = Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)
    ids = list(
        Job.objects.filter(stuck, status=Job.Status.RUNNING)
        .order_by()
        .values_list("id", flat=True)[:SWEEP_BATCH]
    )
    recovered = 0
    for job_id in ids:
        with transaction.atomic():
            job = (
                Job.objects.select_for_update(skip_locked=True)
                .filter(stuck, pk=job_id, status=Job.Status.RUNNING)
                .first()
            )
            if job is None:
                continue
            _attempt_failed(job, error=_lost_error(job, now), now=now)
            recovered += 1
    return recovered


def jobs_sweep() -> dict[str, int]:
    """Beat, every CODEAI_JOB_SWEEP_SECONDS: publish, re-publish and recover what needs it."""
    now = timezone.now()
    counts = {
        "published": _publish_unpublished(now),
        "republished": _republish_stuck(now),
        "recovered": _recover_lost(now),
    }
    if any(counts.values()):
        logger.info("jobs sweep", extra=counts)
    return counts
