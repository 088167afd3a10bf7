from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from codeai.celery import RETRY_WHILE_DATABASE_UNREACHABLE


@shared_task(name="webhooks.deliver", ignore_result=True, **RETRY_WHILE_DATABASE_UNREACHABLE)
def delivery_send(delivery_id: str) -> None:
    """One attempt of one delivery (a no-op unless it is open, due and unclaimed)."""
    from .services import delivery_attempt

    delivery_attempt(delivery_id=delivery_id)


@shared_task(name="webhooks.sweep", ignore_result=True)
def delivery_sweep() -> None:
    """Beat, every 15 s: re-queue deliveries whose attempt is long overdue."""
    from .services import delivery_requeue_stuck

    delivery_requeue_stuck()


@shared_task(name="webhooks.prune", ignore_result=True)
def delivery_prune_task() -> None:
    """Beat, daily: drop deliveries older than CODEAI_RETENTION_DAYS."""
    from .services import delivery_prune

    delivery_prune(before=timezone.now() - timedelta(days=settings.CODEAI_RETENTION_DAYS))
