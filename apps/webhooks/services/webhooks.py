"""Webhook subscriptions: create, update, delete, and the synchronous test delivery."""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.events.services import emit
from codeai.api.exceptions import ValidationFailed

from ..models import Delivery, Webhook
from ..signing import generate_secret
from ..ssrf import UnsafeURLError, check_url
from .deliveries import SOURCE, delivery_attempt, event_payload
from .subscriptions import subscriptions_changed


def _check_target(url: str) -> None:
    try:
        check_url(url, allow_private=settings.CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS)
    except UnsafeURLError as exc:
        raise ValidationFailed({"url": str(exc)}) from None


def webhook_create(
    *,
    url: str,
    events: list[str] | None = None,
    secret: str | None = None,
    headers: dict[str, str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> tuple[Webhook, str]:
    """Create a subscription; returns it and its secret (generated when not given)."""
    _check_target(url)
    secret = secret or generate_secret()
    webhook = Webhook.objects.create(
        url=url,
        events=list(dict.fromkeys(events or [])),
        secret=secret,
        headers=headers or {},
        metadata=metadata or {},
    )
    subscriptions_changed(widened=True)
    return webhook, secret


def webhook_update(
    *,
    webhook: Webhook,
    url: str | None = None,
    events: list[str] | None = None,
    secret: str | None = None,
    headers: dict[str, str] | None = None,
    metadata: dict[str, Any] | None = None,
    active: bool | None = None,
) -> Webhook:
    """Change the given fields; re-activating a webhook also clears its failure count.

    Only those columns are written, so a concurrent failure count from a worker is not lost.
    """
    changed = ["updated_at"]
    if url is not None:
        _check_target(url)
        webhook.url = url
        changed.append("url")
    widened = False
    if events is not None:
        events = list(dict.fromkeys(events))
        widened = not events or bool(webhook.events and set(events) - set(webhook.events))
        webhook.events = events
        changed.append("events")
    if secret is not None:
        webhook.secret = secret
        changed.append("secret")
    if headers is not None:
        webhook.headers = headers
        changed.append("headers")
    if metadata is not None:
        webhook.metadata = metadata
        changed.append("metadata")
    if active is not None:
        if active and not webhook.active:
            webhook.consecutive_failures = 0
            changed.append("consecutive_failures")
            widened = True
        webhook.active = active
        changed.append("active")
    webhook.save(update_fields=changed)
    if "events" in changed or "active" in changed:
        subscriptions_changed(widened=widened and webhook.active)
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    """Delete the webhook and its delivery history; in-flight attempts are then dropped."""
    webhook.delete()
    subscriptions_changed(widened=False)


def webhook_test(*, webhook: Webhook) -> Delivery:
    """Send a `webhook.test` event to this webhook only, now, once, and return the delivery."""
    with transaction.atomic():
        event = emit(
            type="webhook.test",
            source=SOURCE,
            data={"webhook_id": webhook.id},
        )
        delivery = Delivery.objects.create(
            webhook=webhook,
            event_ref=event.id,
            event_type=event.type,
            url=webhook.url,
            payload=event_payload(event),
            is_test=True,
            next_retry_at=timezone.now(),
        )
    return delivery_attempt(delivery_id=delivery.id) or delivery
