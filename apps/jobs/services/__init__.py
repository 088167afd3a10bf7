"""Jobs: every write and side effect (see the modules for the details of each part)."""

from .execution import job_run, jobs_sweep
from .operations import (
    job_stats,
    jobs_prune,
    queue_depths,
    scheduler_heartbeat_age,
    scheduler_heartbeat_record,
    workers_ping,
)
from .submission import (
    job_cancel,
    job_create,
    job_create_recurring,
    job_fire_recurring,
    job_reschedule_recurring,
    job_schedule,
    jobs_remove_for_owner,
    jobs_replace_recurring_for_owner,
)

__all__ = [
    "job_cancel",
    "job_create",
    "job_create_recurring",
    "job_fire_recurring",
    "job_reschedule_recurring",
    "job_run",
    "job_schedule",
    "job_stats",
    "jobs_prune",
    "jobs_remove_for_owner",
    "jobs_replace_recurring_for_owner",
    "jobs_sweep",
    "queue_depths",
    "scheduler_heartbeat_age",
    "scheduler_heartbeat_record",
    "workers_ping",
]
