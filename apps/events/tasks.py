from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone


@shared_task(name="events.dispatch", ignore_result=True)
def event_dispatch(event_id: str) -> None:
    """Fan out an event written without its deliveries (messages queued by earlier versions)."""
    from .services import event_fan_out

    event_fan_out(event_id=event_id)


@shared_task(name="events.outbox_sweep", ignore_result=True)
def event_outbox_sweep() -> None:
    """Beat, every 15 s: send deliveries whose first message was never queued (broker down at
    commit), and fan out events written without their deliveries."""
    from apps.webhooks.services import delivery_requeue_stuck

    from .services import event_dispatch_pending

    delay = timedelta(seconds=settings.CODEAI_EVENT_OUTBOX_DELAY_SECONDS)
    delivery_requeue_stuck(older_than=delay, never_attempted=True)
    event_dispatch_pending(older_than=delay)


@shared_task(name="events.count_roll_up", ignore_result=True)
def event_count_roll_up() -> None:
    """Beat, every minute: add closed hours to the hourly counts behind /events/stats."""
    from .services import event_counts_roll_up

    event_counts_roll_up()


@shared_task(name="events.prune", ignore_result=True)
def event_prune_task() -> None:
    """Beat, daily: drop events older than CODEAI_RETENTION_DAYS."""
    from .services import event_prune

    event_prune(before=timezone.now() - timedelta(days=settings.CODEAI_RETENTION_DAYS))
