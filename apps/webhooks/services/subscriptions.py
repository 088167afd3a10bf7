"""Which event types have subscribers: a per-process snapshot, so that emit() skips the webhook
query (and the rest of the fan-out) for the many events nobody subscribes to.

The snapshot is at most CODEAI_WEBHOOK_SUBSCRIPTION_CACHE_MS old. It only ever decides that an
event has *no* candidate webhook; when it has some, the fan-out reads the webhooks themselves.
So a stale snapshot can only miss a webhook that was just created or widened, and those
services wait out the snapshot's age after their commit before they return: once POST or PUT
/webhooks has answered, every process sees the change.
"""

import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from ..models import Webhook


@dataclass(frozen=True)
class _Snapshot:
    every_type: bool  # an active webhook subscribes to all types
    types: frozenset[str]
    expires: float  # time.monotonic()


_lock = threading.Lock()
_snapshot: _Snapshot | None = None


def _max_age() -> float:
    return max(0, settings.CODEAI_WEBHOOK_SUBSCRIPTION_CACHE_MS) / 1000


def _read() -> _Snapshot:
    every_type, types = False, set()
    for events in Webhook.objects.filter(active=True).values_list("events", flat=True):
        if not events:
            every_type = True
        else:
            types.update(events)
    return _Snapshot(every_type, frozenset(types), time.monotonic() + _max_age())


def subscription_exists(*, event_type: str) -> bool:
    """False only if no active webhook subscribed to this type as of the snapshot."""
    global _snapshot
    snapshot = _snapshot
    if snapshot is None or time.monotonic() >= snapshot.expires:
        snapshot = _read()
        with _lock:
            _snapshot = snapshot
    return snapshot.every_type or event_type in snapshot.types


def subscriptions_changed(*, widened: bool) -> None:
    """A webhook was created or changed: forget this process's snapshot now; when the change
    can add subscribers, hold the caller after commit until other processes' snapshots expired.
    """
    global _snapshot
    with _lock:
        _snapshot = None
    if widened and _max_age() > 0:
        transaction.on_commit(lambda: time.sleep(_max_age()))
