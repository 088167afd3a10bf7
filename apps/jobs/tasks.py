"""Celery tasks of the jobs app: each takes ids (or nothing) and calls one service."""

import time
from datetime import timedelta

from celery import shared_task
from celery.signals import task_postrun, task_prerun, worker_process_init

from codeai.celery import RETRY_WHILE_DATABASE_UNREACHABLE

_prefork_process = False


@worker_process_init.connect
def _prefork_process_started(**kwargs) -> None:
    """Only prefork pool processes send this: there Celery enforces per-task time limits."""
    global _prefork_process
    from .services.execution import mark_pool_enforces_time_limits

    _prefork_process = True
    mark_pool_enforces_time_limits()


# A connection a task finished with less than this long ago is not health-checked (a `SELECT 1`
# round trip) before the next task: connection pools' "alive bypass window". After longer idle
# (a database restart is likelier then) the next task checks it first, as Django's request cycle
# does with CONN_HEALTH_CHECKS.
HEALTH_CHECK_AFTER_IDLE_SECONDS = 1.0
_last_task_ended = float("-inf")


@task_prerun.connect
def _recycle_database_connections(task=None, **kwargs) -> None:
    """Before every task. A prefork process keeps its connections as Django's request cycle
    does (closed when broken or older than CONN_MAX_AGE); CELERY_DB_REUSE_MAX stops Celery from
    closing them after each task. Other pools (threads come and go) close them, as Celery would."""
    from django.db import close_old_connections, connections

    if task is not None and getattr(task.request, "is_eager", False):
        return  # running inside the caller (eager mode): its connection is not ours to close
    if not _prefork_process:
        connections.close_all()
    elif time.monotonic() - _last_task_ended >= HEALTH_CHECK_AFTER_IDLE_SECONDS:
        close_old_connections()  # and health-check each before its next use


@task_postrun.connect
def _keep_working_database_connections(task=None, **kwargs) -> None:
    """After every task: close broken or expired connections; the others just worked."""
    global _last_task_ended
    from django.db import close_old_connections, connections

    if task is not None and getattr(task.request, "is_eager", False):
        return
    if not _prefork_process:
        connections.close_all()
        return
    close_old_connections()
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            connection.health_check_done = True
    _last_task_ended = time.monotonic()


@shared_task(name="jobs.run", bind=True, ignore_result=True, **RETRY_WHILE_DATABASE_UNREACHABLE)
def job_run_task(self, job_id: str) -> None:
    """One attempt of one job; does nothing unless this message is the job's current one."""
    from .services import job_run

    job_run(job_id=job_id, task_id=self.request.id, worker=self.request.hostname or "")


@shared_task(name="jobs.fire", ignore_result=True)
def job_fire_task(job_id: str) -> None:
    """Sent by beat (the recurring job's PeriodicTask): create and run one child job."""
    from .services import job_fire_recurring

    job_fire_recurring(job_id=job_id)


@shared_task(name="jobs.sweep", ignore_result=True)
def jobs_sweep_task() -> None:
    """Beat, every CODEAI_JOB_SWEEP_SECONDS: unpublished, lost and stuck jobs."""
    from .services import jobs_sweep

    jobs_sweep()


@shared_task(name="jobs.scheduler_heartbeat", ignore_result=True)
def scheduler_heartbeat_task() -> None:
    """Beat, every CODEAI_SCHEDULER_HEARTBEAT_SECONDS: proof that beat is firing."""
    from .services import scheduler_heartbeat_record

    scheduler_heartbeat_record()


@shared_task(name="jobs.prune", ignore_result=True)
def jobs_prune_task() -> None:
    """Beat, daily: drop finished jobs older than CODEAI_RETENTION_DAYS."""
    from django.conf import settings
    from django.utils import timezone

    from .services import jobs_prune

    jobs_prune(before=timezone.now() - timedelta(days=settings.CODEAI_RETENTION_DAYS))
