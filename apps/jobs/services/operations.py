"""Operating the job system: queue statistics, retention, scheduler and worker liveness."""

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from ..models import Heartbeat, Job
from .common import logger

SCHEDULER_HEARTBEAT = "scheduler"


def queue_depths(*, queues: list[str]) -> dict[str, int | None]:
    """Messages waiting in each broker queue, or None for all when the broker cannot say.

    kombu's virtual transports count them natively (`_size`: Redis LLEN summed over the priority
    lists, the filesystem transport counts message files); AMQP brokers answer a passive queue
    declare. Messages already reserved by a worker (prefetched, or waiting for their ETA) are
    not in the queue and not counted.
    """
    from codeai.celery import app

    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(
                max_retries=1, timeout=settings.CODEAI_HEALTH_CHECK_TIMEOUT_SECONDS
            )
            channel = connection.default_channel
            size = getattr(channel, "_size", None)
            depths: dict[str, int | None] = {}
            for queue in queues:
                if size is not None:
                    depths[queue] = int(size(queue))
                else:
                    depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
            return depths
    except Exception:
        logger.warning("queue depth unavailable", exc_info=True)
        return dict.fromkeys(queues)


def job_stats() -> dict[str, Any]:
    """Per configured queue: job counts by status from the database plus the broker's depth."""
    queues = list(settings.CODEAI_QUEUES)
    stats: dict[str, dict[str, int | None]] = {
        queue: dict.fromkeys(Job.Status.values, 0) for queue in queues
    }
    rows = (
        Job.objects.filter(queue__in=queues)
        .order_by()
        .values("queue", "status")
        .annotate(count=Count("pk"))
        .values_list("queue", "status", "count")
    )
    for queue, status, count in rows:
        stats[queue][status] = count
    for queue, depth in queue_depths(queues=queues).items():
        stats[queue]["depth"] = depth
    return {"queues": stats}


def jobs_prune(*, before: datetime, batch_size: int = 1000) -> int:
    """Delete finished jobs last changed before `before` (retention), in batches.

    Runs go before their recurring parent: a parent is deleted only once none of its runs is
    left, so a cancelled recurring job's recent history stays readable.
    """
    deleted = 0
    while True:
        ids = list(
            Job.objects.filter(
                status__in=Job.FINAL_STATUSES, updated_at__lt=before, runs__isnull=True
            )
            .order_by()
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += Job.objects.filter(pk__in=ids).delete()[1].get(Job._meta.label, 0)


def scheduler_heartbeat_record() -> None:
    """Called by the beat-scheduled `jobs.scheduler_heartbeat` task."""
    Heartbeat.objects.update_or_create(
        name=SCHEDULER_HEARTBEAT, defaults={"beat_at": timezone.now()}
    )


def scheduler_heartbeat_age() -> float | None:
    """Seconds since the last scheduler heartbeat, or None if there never was one."""
    beat_at = (
        Heartbeat.objects.filter(name=SCHEDULER_HEARTBEAT).values_list("beat_at", flat=True).first()
    )
    if beat_at is None:
        return None
    return max(0.0, (timezone.now() - beat_at).total_seconds())


def workers_ping(*, timeout: float) -> list[str]:
    """Names of the workers that answer a broadcast ping (returns at the first answer)."""
    from codeai.celery import app

    replies = app.control.ping(timeout=timeout, limit=1) or []
    return sorted(name for reply in replies for name in reply)
