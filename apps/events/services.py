"""Events: emit() (the one way to record one), the outbox fan-out and sweep, stats, retention."""

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Model, Q, QuerySet, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from codeai.db import fetch_all, instance_from_row, lazy_commit_cte

from .catalogue import EVENT_TYPE_NAMES
from .models import Event, EventCount, EventCountWatermark

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
# Clock skew between app servers and the database, and commit latency.
COUNT_SETTLE = timedelta(minutes=2)
# A transaction open longer than this (a forgotten psql session) no longer holds counting back.
COUNT_MAX_WAIT = timedelta(hours=1)


def emit(
    *, type: str, source: str, data: dict[str, Any], metadata: dict[str, Any] | None = None
) -> Event:
    """Write an event and its webhook deliveries in the caller's transaction; send after commit.

    The fan-out happens here, not in a task of its own: the event row, one delivery row per
    subscribed webhook and the event's `dispatched_at` commit or roll back together, so the
    deliveries are the outbox. If the broker is unreachable at commit time the deliveries stay
    due and the outbox sweep (a beat task) queues them later, so no event is lost.
    """
    from apps.webhooks.services import delivery_create_for_event, delivery_enqueue_on_commit

    event = _new_event(type=type, source=source, data=data, metadata=metadata)
    # Without a savepoint when the caller has a transaction (an error rolls it all back);
    # atomic on its own under autocommit, so an event never exists without its deliveries.
    with transaction.atomic(savepoint=False):
        event.save(force_insert=True)
        delivery_enqueue_on_commit(delivery_ids=delivery_create_for_event(event=event))
    return event


def _require_known(type: str) -> None:
    if type not in EVENT_TYPE_NAMES:
        raise ValueError(f"unknown event type {type!r}: add it to apps/events/catalogue.py")


def _new_event(
    *, type: str, source: str, data: dict[str, Any], metadata: dict[str, Any] | None = None
) -> Event:
    """The unsaved row of an event happening now; its fan-out is done as it is written."""
    _require_known(type)
    now = timezone.now()
    return Event(
        type=type,
        source=source,
        timestamp=now,
        data=data,
        metadata=metadata or {},
        dispatched_at=now,
    )


def emit_batch(
    events: Sequence[dict[str, Any]], *, only_unsubscribed: bool = False
) -> list[Event] | None:
    """emit() for several events (each a dict of emit()'s arguments) in the caller's
    transaction, for a caller that writes its own rows in one statement (codeai.db).

    An event no webhook subscribes to is only its row: it comes back unsaved, stamped as emit()
    would stamp it, and the caller must write it with its other rows in this transaction. An
    event with subscribers also needs its deliveries, so emit() writes it here; with
    `only_unsubscribed` (a caller whose own write may yet not happen) nothing is written then,
    and the answer is None.
    """
    from apps.webhooks.services import subscription_exists

    if only_unsubscribed and any(subscription_exists(event_type=e["type"]) for e in events):
        return None
    rows = []
    for arguments in events:
        if subscription_exists(event_type=arguments["type"]):
            emit(**arguments)
        else:
            rows.append(_new_event(**arguments))
    return rows


def emit_returning(
    *,
    type: str,
    source: str,
    data: str,
    metadata: str = "'{}'::jsonb",
    statement: str,
    params: Sequence[Any],
    also: Sequence[tuple[str, Sequence[Any]]] = (),
    model: type[Model] | None = None,
    durable: bool = True,
) -> list[Any] | None:
    """emit() in one statement with the change: `statement` (an UPDATE or INSERT … RETURNING)
    runs, and an event of `type` is written for every row it returns, in the same statement.

    For hot paths (a job's submission, claim and completion; a webhook delivery's success): one
    round trip, atomic on its own or part of the caller's transaction, and no ORM in between.
    `data` and `metadata` are SQL expressions (jsonb) over the returned columns. `also` adds
    more writes to the statement, as (sql, params), each able to read the returned rows from
    `changed`. The rows come back as `model` instances (the statement then returns every
    column of `model`, in field order), or as tuples without a model. `durable=False`: the
    statement commits without waiting for the WAL flush (codeai.db.lazy_commit_cte).

    Returns None when this cannot be one statement, and the caller then takes its ORM path with
    emit(): the database is not PostgreSQL (only it has data-modifying WITH), or a webhook
    subscribes to `type` (emit() writes the deliveries).
    """
    from apps.webhooks.services import subscription_exists

    _require_known(type)
    if connection.vendor != "postgresql" or subscription_exists(event_type=type):
        return None
    now = timezone.now()
    steps = "".join(f", also_{index} AS ({sql})" for index, (sql, _) in enumerate(also))
    lazily = lazy_commit_cte(durable=durable)
    sql = (
        f"WITH changed AS ({statement}){steps}, emitted AS ("
        f"INSERT INTO {Event._meta.db_table}"
        " (id, type, source, timestamp, data, metadata, dispatched_at)"
        f" SELECT 'evt-' || gen_random_uuid(), %s, %s, %s, {data}, {metadata}, %s FROM changed"
        ")"
        + (
            f", {lazily} SELECT changed.* FROM changed CROSS JOIN lazy_commit"
            if lazily
            else " SELECT * FROM changed"
        )
    )
    params = [*params, *(value for _, values in also for value in values)]
    params += [type, source, now, now]
    rows = fetch_all(sql, params)
    if model is not None:
        return [instance_from_row(model, row) for row in rows]
    return rows


def event_fan_out(*, event_id: str) -> list[str]:
    """Fan out an event written without its deliveries (`dispatched_at` empty); idempotent.

    emit() never leaves such a row; this serves rows from before deliveries were written with
    the event, and `events.dispatch` messages still queued from then. The event row is locked
    and an already dispatched event is left alone; deliveries are unique per (webhook, event).
    Returns the ids of the deliveries it queued.
    """
    from apps.webhooks.services import delivery_create_for_event, delivery_enqueue_on_commit

    with transaction.atomic():
        event = (
            Event.objects.select_for_update()
            .filter(pk=event_id, dispatched_at__isnull=True)
            .first()
        )
        if event is None:
            return []
        delivery_ids = delivery_create_for_event(event=event)
        Event.objects.filter(pk=event.pk).update(dispatched_at=timezone.now())
        delivery_enqueue_on_commit(delivery_ids=delivery_ids)
    return delivery_ids


def event_dispatch_pending(*, older_than: timedelta, limit: int = 500) -> int:
    """The outbox sweep: fan out events still undispatched `older_than` after they happened."""
    cutoff = timezone.now() - older_than
    event_ids = list(
        Event.objects.filter(dispatched_at__isnull=True, timestamp__lte=cutoff)
        .order_by("timestamp")
        .values_list("id", flat=True)[:limit]
    )
    for event_id in event_ids:
        event_fan_out(event_id=event_id)
    if event_ids:
        logger.info("outbox sweep dispatched events", extra={"count": len(event_ids)})
    return len(event_ids)


def event_prune(*, before: datetime, batch_size: int = 5000) -> int:
    """Delete events of the hours before `before` (retention), in batches, with their counts.

    The cutoff is rounded down to the hour so that the hourly counts stay exact.
    """
    cutoff = _hour_floor(before)
    EventCount.objects.filter(bucket__lt=cutoff).delete()
    deleted = 0
    while True:
        ids = list(
            Event.objects.filter(timestamp__lt=cutoff)
            .order_by()
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += Event.objects.filter(pk__in=ids).delete()[0]


# --- Stats: hourly counts for whole hours, live counts for the rest ------------------------------


def _hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _hour_ceil(moment: datetime) -> datetime:
    floor = _hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def _oldest_open_transaction_start() -> datetime | None:
    """PostgreSQL: when the oldest other open transaction began (it may still emit events)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(xact_start) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _countable_until(now: datetime) -> datetime:
    """Hours before this can no longer receive events: no open transaction can still commit one.

    emit() stamps events with the time of the call, inside the caller's transaction, so an
    event of hour H can only appear later if its transaction began before H ended.
    """
    limit = now - COUNT_SETTLE
    oldest = _oldest_open_transaction_start()
    if oldest is not None and now - oldest < COUNT_MAX_WAIT:
        limit = min(limit, oldest - COUNT_SETTLE)
    return _hour_floor(limit)


def event_counts_roll_up(*, max_span: timedelta = timedelta(days=7)) -> int:
    """Add the hourly counts of closed hours after the watermark; returns how many hours."""
    with transaction.atomic():
        watermark, _ = EventCountWatermark.objects.select_for_update().get_or_create(id=1)
        start = watermark.counted_until
        if start is None:
            first = Event.objects.order_by("timestamp").values_list("timestamp", flat=True)
            start = _hour_floor(first[0]) if first else None
        end = _countable_until(timezone.now())
        if start is None:
            start = end
        end = min(end, start + max_span)
        if end > start:
            rows = (
                Event.objects.filter(timestamp__gte=start, timestamp__lt=end)
                .annotate(bucket=TruncHour("timestamp"))
                .order_by()
                .values_list("bucket", "type", "source")
                .annotate(count=Count("pk"))
            )
            EventCount.objects.bulk_create(
                [EventCount(bucket=b, type=t, source=s, count=n) for b, t, s, n in rows],
                batch_size=2000,
            )
        if watermark.counted_until != max(start, end):
            watermark.counted_until = max(start, end)
            watermark.save(update_fields=["counted_until"])
    return max(0, int((end - start) / HOUR))


def _filtered(queryset: QuerySet, type: str | None, source: str | None) -> QuerySet:
    if type:
        queryset = queryset.filter(type=type)
    if source:
        queryset = queryset.filter(source=source)
    return queryset


def event_stats(
    *,
    type: str | None = None,
    source: str | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
) -> dict[str, Any]:
    """Exact counts of the matching events, in total, by type and by source.

    Whole hours already rolled up are summed from EventCount; the partial hours at the edges of
    the window and everything after the watermark are counted from the events themselves.
    """
    counted_until = (
        EventCountWatermark.objects.filter(id=1).values_list("counted_until", flat=True).first()
    )
    live = _filtered(Event.objects.order_by(), type, source)
    if start_time is not None:
        live = live.filter(timestamp__gte=start_time)
    if end_time is not None:
        live = live.filter(timestamp__lt=end_time)
    rows: list[tuple[str, str, int]] = []
    rolled_from = _hour_ceil(start_time) if start_time is not None else None
    rolled_to = counted_until
    if counted_until is not None and end_time is not None:
        rolled_to = min(counted_until, _hour_floor(end_time))
    if rolled_to is not None and (rolled_from is None or rolled_from < rolled_to):
        counts = _filtered(EventCount.objects.order_by(), type, source).filter(bucket__lt=rolled_to)
        outside = Q(timestamp__gte=rolled_to)
        if rolled_from is not None:
            counts = counts.filter(bucket__gte=rolled_from)
            outside |= Q(timestamp__lt=rolled_from)
        rows += counts.values_list("type", "source").annotate(n=Sum("count"))
        live = live.filter(outside)
    rows += live.values_list("type", "source").annotate(n=Count("pk"))
    by_type: dict[str, int] = defaultdict(int)
    by_source: dict[str, int] = defaultdict(int)
    for event_type, event_source, count in rows:
        by_type[event_type] += count
        by_source[event_source] += count
    return {
        "total_events": sum(by_type.values()),
        "by_type": dict(sorted(by_type.items(), key=lambda item: (-item[1], item[0]))),
        "by_source": dict(sorted(by_source.items(), key=lambda item: (-item[1], item[0]))),
    }
