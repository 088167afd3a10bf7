"""Deliveries: one event for one webhook, its attempts, and everything they cause.

The body is serialized once, when the delivery is created, and every attempt signs and sends
exactly those bytes. An attempt is claimed under a row lock with a lease (`claimed_until`), the
HTTP request runs outside any transaction, and the outcome is recorded afterwards, so neither a
redelivered Celery message nor a concurrent worker can send a delivery that already succeeded
or run two attempts of one delivery at once.
"""

import functools
import json
import logging
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import urllib3
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.events.models import Event
from apps.events.services import emit, emit_returning
from codeai.api.durations import parse_duration
from codeai.api.exceptions import Conflict

from ..models import RESPONSE_EXCERPT_BYTES, Delivery, DeliveryAttempt, Webhook
from ..signing import signed_headers
from ..ssrf import UnsafeURLError, safe_request
from .subscriptions import subscription_exists

logger = logging.getLogger(__name__)

SOURCE = "webhook-service"
USER_AGENT = "CodeAI-Webhooks/1.0"
# Event types delivered only to the webhook that asked for them (POST /webhooks/{id}/test).
NOT_FANNED_OUT = frozenset({"webhook.test"})
# A lease longer than one request (timeout) plus the database work around it.
CLAIM_MARGIN = timedelta(seconds=30)
# A Celery ETA may fire a little before our clock says the attempt is due.
DUE_TOLERANCE = timedelta(seconds=2)
# `last_delivery` is kept to the second: a busy webhook's row is not rewritten per delivery.
LAST_DELIVERY_STEP = timedelta(seconds=1)
JITTER = 0.2
_ZERO_DURATION = re.compile(r"^0+(ms|s|m|h|d)?$")


# --- Creation -------------------------------------------------------------------------------


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_payload(event: Event) -> str:
    """The delivery body: serialized once, then signed and sent byte for byte on every attempt."""
    body = {
        "type": event.type,
        "timestamp": _rfc3339(event.timestamp),
        "data": event.data,
        "id": event.id,
        "source": event.source,
        "metadata": event.metadata,
    }
    return json.dumps(body, separators=(",", ":"), cls=DjangoJSONEncoder)


def delivery_create_for_event(*, event: Event) -> list[str]:
    """One delivery per active subscribed webhook; idempotent. Returns the ids to queue.

    Called by emit() in the event's own transaction (and by event_fan_out for an event written
    without deliveries, row locked), so normally none of these deliveries exist yet. If one does
    (a re-run), the unique (webhook, event) constraint skips it and its id in the result only
    queues a no-op attempt: no re-query on the hot path.
    """
    if event.type in NOT_FANNED_OUT or not subscription_exists(event_type=event.type):
        return []
    webhooks = [
        webhook
        for webhook in Webhook.objects.filter(active=True).only("id", "url", "events")
        if webhook.subscribes_to(event.type)
    ]
    if not webhooks:
        return []
    payload = event_payload(event)
    now = timezone.now()
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(
                webhook_id=webhook.id,
                event_ref=event.id,
                event_type=event.type,
                url=webhook.url,
                payload=payload,
                next_retry_at=now,
            )
            for webhook in webhooks
        ],
        ignore_conflicts=True,
    )
    return [delivery.id for delivery in deliveries]


def delivery_enqueue(*, delivery_id: str, countdown: float = 0) -> None:
    """Queue an attempt. If the broker is down the row stays due and the sweep re-queues it."""
    from ..tasks import delivery_send

    try:
        delivery_send.apply_async((delivery_id,), countdown=countdown)
    except Exception:
        logger.warning(
            "delivery attempt not enqueued; the sweep will retry", extra={"delivery": delivery_id}
        )


def delivery_enqueue_on_commit(*, delivery_ids: list[str]) -> None:
    """Queue the first attempt of each of these deliveries once the transaction commits."""
    if delivery_ids:
        transaction.on_commit(
            lambda: [delivery_enqueue(delivery_id=delivery_id) for delivery_id in delivery_ids]
        )


# --- Attempts ---------------------------------------------------------------------


def retry_schedule() -> list[float]:
    """Delays in seconds before attempt 1, 2, …: `CODEAI_WEBHOOK_RETRY_SCHEDULE`."""
    raw = settings.CODEAI_WEBHOOK_RETRY_SCHEDULE
    items = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw)
    delays = []
    for item in items:
        if isinstance(item, int | float):
            delays.append(float(item))
        elif _ZERO_DURATION.match(item):
            delays.append(0.0)
        else:
            try:
                delays.append(parse_duration(item).total_seconds())
            except ValueError:
                raise ImproperlyConfigured(
                    f"CODEAI_WEBHOOK_RETRY_SCHEDULE: {item!r} is not a duration like 30s or 5m"
                ) from None
    if not delays:
        raise ImproperlyConfigured("CODEAI_WEBHOOK_RETRY_SCHEDULE must list at least one delay")
    return delays


def _jittered(seconds: float) -> float:
    return seconds * random.uniform(1 - JITTER, 1 + JITTER) if seconds > 0 else 0.0


@dataclass(frozen=True)
class _Claim:
    delivery: Delivery  # as locked when claimed, attempts already counted
    url: str
    secret: str
    headers: dict[str, str]


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None
    duration_ms: int | None
    error: str
    response_body: str


@functools.cache
def _claim_statement() -> str:
    """The usual claim as one UPDATE (PostgreSQL): the delivery row is locked by the update
    itself, and the webhook's URL, secret and headers come back with it."""
    columns = ", ".join(f'd."{field.column}"' for field in Delivery._meta.concrete_fields)
    return (
        f"UPDATE {Delivery._meta.db_table} AS d SET attempts = d.attempts + 1, url = w.url,"
        " claimed_until = %s, updated_at = %s"
        f" FROM {Webhook._meta.db_table} AS w"
        " WHERE d.id = %s AND w.id = d.webhook_id AND d.status IN (%s, %s)"
        " AND (d.claimed_until IS NULL OR d.claimed_until <= %s)"
        " AND (d.next_retry_at IS NULL OR d.next_retry_at <= %s)"
        " AND (w.active OR d.is_test)"
        f" RETURNING {columns}, w.secret AS webhook_secret, w.headers::text AS webhook_headers"
    )


def _delivery_claim(delivery_id: str) -> _Claim | None:
    """Start an attempt if the delivery is open, due and not being sent by another worker."""
    now = timezone.now()
    claimed_until = now + timedelta(seconds=settings.CODEAI_WEBHOOK_TIMEOUT_SECONDS) + CLAIM_MARGIN
    if connection.vendor == "postgresql":
        params = [
            claimed_until,
            now,
            delivery_id,
            *(status.value for status in Delivery.OPEN_STATUSES),
            now,
            now + DUE_TOLERANCE,
        ]
        claimed = list(Delivery.objects.raw(_claim_statement(), params))
        if claimed:
            delivery = claimed[0]
            return _Claim(
                delivery=delivery,
                url=delivery.url,
                secret=delivery.webhook_secret,
                headers=json.loads(delivery.webhook_headers),
            )
        # Nothing matched: the locked path below tells why (and fails a disabled one's).
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("webhook")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status not in Delivery.OPEN_STATUSES:
            return None
        if delivery.claimed_until is not None and delivery.claimed_until > now:
            return None
        if delivery.next_retry_at is not None and delivery.next_retry_at > now + DUE_TOLERANCE:
            return None  # a duplicate or stale message; the attempt's own message is queued
        webhook = delivery.webhook
        if not webhook.active and not delivery.is_test:
            delivery.status = Delivery.Status.FAILED
            delivery.error = "webhook is disabled"
            delivery.next_retry_at = None
            delivery.save(update_fields=["status", "error", "next_retry_at", "updated_at"])
            return None
        delivery.attempts += 1
        delivery.url = webhook.url
        delivery.claimed_until = claimed_until
        delivery.save(update_fields=["attempts", "url", "claimed_until", "updated_at"])
        return _Claim(
            delivery=delivery,
            url=webhook.url,
            secret=webhook.secret,
            headers=dict(webhook.headers),
        )


def _excerpt(response: requests.Response) -> str:
    """At most RESPONSE_EXCERPT_BYTES of the body; a longer body is not read any further.

    The status line already decided the outcome: a body that fails to arrive is left out.
    """
    raw = response.raw
    try:
        data = raw.read(RESPONSE_EXCERPT_BYTES + 1, decode_content=True)
    except (urllib3.exceptions.HTTPError, OSError):
        response.close()
        return ""
    if len(data) > RESPONSE_EXCERPT_BYTES:
        response.close()
    else:
        raw.release_conn()  # fully read: the keep-alive connection goes back to the pool
    return data[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace")


def _send(claim: _Claim) -> _Outcome:
    """The HTTP request; no database access here. Never raises: every failure is an outcome."""
    body = claim.delivery.payload.encode("utf-8")
    timeout = settings.CODEAI_WEBHOOK_TIMEOUT_SECONDS
    headers = {
        "User-Agent": USER_AGENT,
        **claim.headers,
        "Content-Type": "application/json",
        **signed_headers(
            secret=claim.secret,
            message_id=claim.delivery.event_ref,
            timestamp=int(time.time()),
            body=body,
        ),
    }
    started = time.perf_counter()
    try:
        response = safe_request(
            "POST",
            claim.url,
            allow_private=settings.CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS,
            data=body,
            headers=headers,
            timeout=timeout,
            stream=True,
        )
    except UnsafeURLError as exc:
        return _Outcome(None, None, f"not sent: url {exc}", "")
    except requests.Timeout:
        return _Outcome(None, _elapsed_ms(started), f"timed out after {timeout}s", "")
    except requests.RequestException as exc:
        return _Outcome(None, _elapsed_ms(started), f"connection error: {exc}"[:1000], "")
    except Exception as exc:  # a bug here must still end the attempt, not leave it leased
        logger.exception("webhook attempt crashed", extra={"delivery": claim.delivery.id})
        return _Outcome(None, _elapsed_ms(started), f"internal error: {exc}"[:1000], "")
    excerpt = _excerpt(response)
    code = response.status_code
    error = "" if 200 <= code < 300 else f"receiver answered {code}"
    return _Outcome(code, _elapsed_ms(started), error, excerpt)


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _webhook_disable(webhook: Webhook, *, reason: str) -> None:
    """Deactivate (the caller holds the row lock) and record `webhook.disabled` once."""
    if not webhook.active:
        return
    webhook.active = False
    emit(
        type="webhook.disabled",
        source=SOURCE,
        # No URL: events are readable by viewers and delivered to other receivers, and a URL
        # can carry a credential (webhook reads are admin-only for that reason).
        data={
            "webhook_id": webhook.id,
            "reason": reason,
            "consecutive_failures": webhook.consecutive_failures,
        },
    )


def _webhook_count_failure(webhook_id: str) -> None:
    """A delivery ran out of attempts: count it, and disable the webhook at the threshold."""
    webhook = Webhook.objects.select_for_update().get(pk=webhook_id)
    webhook.consecutive_failures += 1
    if webhook.consecutive_failures >= settings.CODEAI_WEBHOOK_DISABLE_AFTER:
        _webhook_disable(webhook, reason="consecutive_failures")
    webhook.save(update_fields=["consecutive_failures", "active"])


def _webhook_gone(webhook_id: str) -> None:
    webhook = Webhook.objects.select_for_update().get(pk=webhook_id)
    _webhook_disable(webhook, reason="gone")
    webhook.save(update_fields=["active"])


def _webhook_touch(webhook_id: str, *, now: datetime, reset_failures: bool) -> None:
    """Record the delivery time (to the second) and clear the failure count after a success.

    Conditional, so under load most deliveries do not write (or lock) the webhook row at all.
    """
    stale = Q(last_delivery_at__isnull=True) | Q(last_delivery_at__lt=now - LAST_DELIVERY_STEP)
    changes: dict[str, Any] = {"last_delivery_at": now}
    if reset_failures:
        stale |= Q(consecutive_failures__gt=0)
        changes["consecutive_failures"] = 0
    Webhook.objects.filter(stale, pk=webhook_id).update(**changes)


def _record_success_in_one_statement(
    claim: _Claim, outcome: _Outcome, now: datetime
) -> bool | None:
    """The usual outcome, a success, as one statement: the delivery, its attempt row, the
    webhook's touch and the `webhook.triggered` event (emit_returning). False if the delivery
    is gone; None where that form is not available."""
    delivery = claim.delivery
    recorded = emit_returning(
        type="webhook.triggered",
        source=SOURCE,
        data=(
            "jsonb_build_object('webhook_id', webhook_id, 'delivery_id', id,"
            " 'event_id', event_ref, 'event_type', event_type, 'status_code', status_code,"
            " 'attempts', attempts)"
        ),
        statement=(
            f"UPDATE {Delivery._meta.db_table} SET status = %s, status_code = %s,"
            " duration_ms = %s, error = '', response_body = %s, claimed_until = NULL,"
            " next_retry_at = NULL, delivered_at = %s, updated_at = %s WHERE id = %s"
            " RETURNING id, webhook_id, event_ref, event_type, attempts, status_code"
        ),
        params=[
            Delivery.Status.SUCCEEDED.value,
            outcome.status_code,
            outcome.duration_ms,
            outcome.response_body,
            now,
            now,
            delivery.pk,
        ],
        also=[
            (
                f"INSERT INTO {DeliveryAttempt._meta.db_table} (delivery_id, number, url,"
                " status_code, duration_ms, error, response_body, created_at)"
                " SELECT id, attempts, %s, status_code, %s, '', %s, %s FROM changed",
                [claim.url, outcome.duration_ms, outcome.response_body, now],
            ),
            (  # as _webhook_touch(reset_failures=True)
                f"UPDATE {Webhook._meta.db_table} SET last_delivery_at = %s,"
                " consecutive_failures = 0 WHERE id IN (SELECT webhook_id FROM changed)"
                " AND (last_delivery_at IS NULL OR last_delivery_at < %s"
                " OR consecutive_failures > 0)",
                [now, now - LAST_DELIVERY_STEP],
            ),
        ],
    )
    return None if recorded is None else bool(recorded)


def _delivery_record(claim: _Claim, outcome: _Outcome) -> Delivery | None:
    """Store the attempt and its consequences; the claim's lease makes this the only writer."""
    delivery = claim.delivery
    now = timezone.now()
    code = outcome.status_code
    delivery.status_code = code
    delivery.duration_ms = outcome.duration_ms
    delivery.error = outcome.error
    delivery.response_body = outcome.response_body
    delivery.claimed_until = None
    delivery.next_retry_at = None
    delivery.updated_at = now
    retry_in: float | None = None
    if code is not None and 200 <= code < 300:
        delivery.status = Delivery.Status.SUCCEEDED
        delivery.delivered_at = now
    elif code == 410:
        delivery.status = Delivery.Status.FAILED
        delivery.error = "receiver answered 410 Gone: webhook disabled"
    else:
        schedule = retry_schedule()
        if not delivery.is_test and delivery.attempts < len(schedule):
            delivery.status = Delivery.Status.RETRYING
            retry_in = _jittered(schedule[delivery.attempts])
            delivery.next_retry_at = now + timedelta(seconds=retry_in)
        else:
            delivery.status = Delivery.Status.FAILED
    succeeded = delivery.status == Delivery.Status.SUCCEEDED
    if succeeded and not delivery.is_test and not delivery.event_type.startswith("webhook."):
        recorded = _record_success_in_one_statement(claim, outcome, now)
        if recorded is not None:
            return delivery if recorded else None
    with transaction.atomic():
        updated = Delivery.objects.filter(pk=delivery.pk).update(
            status=delivery.status,
            status_code=delivery.status_code,
            duration_ms=delivery.duration_ms,
            error=delivery.error,
            response_body=delivery.response_body,
            claimed_until=None,
            next_retry_at=delivery.next_retry_at,
            delivered_at=delivery.delivered_at,
            updated_at=now,
        )
        if not updated:
            return None  # the webhook (and so the delivery) was deleted meanwhile
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            url=claim.url,
            status_code=code,
            duration_ms=outcome.duration_ms,
            error=outcome.error,
            response_body=outcome.response_body,
            created_at=now,
        )
        if succeeded and not delivery.event_type.startswith("webhook."):
            emit(
                type="webhook.triggered",
                source=SOURCE,
                data={
                    "webhook_id": delivery.webhook_id,
                    "delivery_id": delivery.id,
                    "event_id": delivery.event_ref,
                    "event_type": delivery.event_type,
                    "status_code": code,
                    "attempts": delivery.attempts,
                },
            )
        # Test deliveries are probes: they never change the webhook's failure state.
        if code == 410 and not delivery.is_test:
            _webhook_gone(delivery.webhook_id)
        elif delivery.status == Delivery.Status.FAILED and not delivery.is_test:
            _webhook_count_failure(delivery.webhook_id)
        _webhook_touch(
            delivery.webhook_id, now=now, reset_failures=succeeded and not delivery.is_test
        )
        if retry_in is not None:
            countdown = retry_in
            transaction.on_commit(
                lambda: delivery_enqueue(delivery_id=delivery.id, countdown=countdown)
            )
    return delivery


def delivery_attempt(*, delivery_id: str) -> Delivery | None:
    """Make one attempt if the delivery is due; None when there was nothing to do."""
    claim = _delivery_claim(delivery_id)
    if claim is None:
        return None
    return _delivery_record(claim, _send(claim))


def delivery_retry(*, delivery: Delivery) -> Delivery:
    """Queue one more attempt now (a failed delivery gets exactly one)."""
    with transaction.atomic():
        locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if locked.status == Delivery.Status.SUCCEEDED:
            raise Conflict("delivery already succeeded", {"delivery_id": locked.id})
        if locked.claimed_until is not None and locked.claimed_until > timezone.now():
            raise Conflict("delivery attempt in progress", {"delivery_id": locked.id})
        if not locked.is_test and not Webhook.objects.filter(pk=locked.webhook_id, active=True):
            raise Conflict("webhook is not active", {"webhook_id": locked.webhook_id})
        if locked.status == Delivery.Status.FAILED:
            locked.status = Delivery.Status.RETRYING
        locked.next_retry_at = timezone.now()
        locked.save(update_fields=["status", "next_retry_at", "updated_at"])
        transaction.on_commit(lambda: delivery_enqueue(delivery_id=locked.id))
    return locked


# --- Sweeps and retention ---------------------------------------------------------------------


def delivery_requeue_stuck(
    *, older_than: timedelta | None = None, never_attempted: bool = False, limit: int = 500
) -> int:
    """Re-queue open deliveries whose attempt is long overdue (a lost message or worker):
    `older_than` past due, by default CODEAI_WEBHOOK_REQUEUE_AFTER_SECONDS.

    `never_attempted` limits it to deliveries whose first message never ran: the outbox sweep
    uses it with a short delay for events committed while the broker was unreachable.
    """
    now = timezone.now()
    if older_than is None:
        older_than = timedelta(seconds=settings.CODEAI_WEBHOOK_REQUEUE_AFTER_SECONDS)
    cutoff = now - older_than
    due = Delivery.objects.filter(status__in=Delivery.OPEN_STATUSES, next_retry_at__lt=cutoff)
    if never_attempted:
        due = due.filter(attempts=0)
    candidates = list(
        due.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_retry_at")
        .values_list("id", flat=True)[:limit]
    )
    requeued = 0
    for delivery_id in candidates:
        # Conditional, so a delivery that moved on since the read is left alone; bumping
        # next_retry_at keeps a long queue from being re-queued again on every sweep.
        if due.filter(pk=delivery_id).update(next_retry_at=now):
            delivery_enqueue(delivery_id=delivery_id)
            requeued += 1
    return requeued


def delivery_prune(*, before: datetime, batch_size: int = 1000) -> int:
    """Delete deliveries (and their attempts) created before `before`, in batches."""
    deleted = 0
    while True:
        ids = list(
            Delivery.objects.filter(created_at__lt=before).values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        with transaction.atomic():
            DeliveryAttempt.objects.filter(delivery_id__in=ids).delete()
            deleted += Delivery.objects.filter(pk__in=ids).delete()[1].get(Delivery._meta.label, 0)
