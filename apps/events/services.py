"""The one way to record an event: emit()."""

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from .catalogue import EVENT_TYPE_NAMES
from .models import Event

logger = logging.getLogger(__name__)


def emit(
    *, type: str, source: str, data: dict[str, Any], metadata: dict[str, Any] | None = None
) -> Event:
    """Write an event row in the caller's transaction; fan it out to webhooks after commit.

    If the broker is unreachable at commit time the row stays undispatched and the outbox sweep
    (a beat task) picks it up later, so no event is lost.
    """
    if type not in EVENT_TYPE_NAMES:
        raise ValueError(f"unknown event type {type!r}: add it to apps/events/catalogue.py")
    event = Event.objects.create(
        type=type, source=source, timestamp=timezone.now(), data=data, metadata=metadata or {}
    )
    transaction.on_commit(lambda: _enqueue_dispatch(event.id))
    return event


def _enqueue_dispatch(event_id: str) -> None:
    from .tasks import event_dispatch

    try:
        event_dispatch.delay(event_id)
    except Exception:  # the broker is down: the outbox sweep will dispatch it
        logger.warning(
            "event dispatch not enqueued; the sweep will retry", extra={"event": event_id}
        )


def event_fan_out(*, event_id: str) -> None:
    """Mark the event dispatched; idempotent, so a redelivered message does nothing new."""
    Event.objects.filter(pk=event_id, dispatched_at__isnull=True).update(
        dispatched_at=timezone.now()
    )
