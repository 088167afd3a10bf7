"""Celery tasks of the jobs app: each takes ids (or nothing) and calls one service."""

from datetime import timedelta

from celery import shared_task
from celery.signals import task_postrun, task_prerun, worker_process_init

_prefork_process = False


@worker_process_init.connect
def _prefork_process_started(**kwargs) -> None:
    """Only prefork pool processes send this: there Celery enforces per-task time limits."""
    global _prefork_process
    from .services.execution import mark_pool_enforces_time_limits

    _prefork_process = True
    mark_pool_enforces_time_limits()


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(task=None, **kwargs) -> None:
    """Around every task. A prefork process keeps its connections as Django's request cycle
    does (closed when broken or older than CONN_MAX_AGE); CELERY_DB_REUSE_MAX stops Celery from
    closing them after each task. Other pools (threads come and go) close them, as Celery would."""
    from django.db import close_old_connections, connections

    if task is not None and getattr(task.request, "is_eager", False):
        return  # running inside the caller (eager mode): its connection is not ours to close
    if _prefork_process:
        close_old_connections()
    else:
        connections.close_all()


@shared_task(name="jobs.run", bind=True, ignore_result=True)
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
