"""Webhooks and their deliveries: every write, every outbound request, every event they cause."""

from .deliveries import (
    delivery_attempt,
    delivery_create_for_event,
    delivery_enqueue,
    delivery_enqueue_on_commit,
    delivery_prune,
    delivery_requeue_stuck,
    delivery_retry,
    event_payload,
    retry_schedule,
)
from .subscriptions import subscription_exists
from .webhooks import webhook_create, webhook_delete, webhook_test, webhook_update

__all__ = [
    "delivery_attempt",
    "delivery_create_for_event",
    "delivery_enqueue",
    "delivery_enqueue_on_commit",
    "delivery_prune",
    "delivery_requeue_stuck",
    "delivery_retry",
    "event_payload",
    "retry_schedule",
    "subscription_exists",
    "webhook_create",
    "webhook_delete",
    "webhook_test",
    "webhook_update",
]
