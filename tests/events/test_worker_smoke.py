import time

from django.db import transaction

from apps.events.models import Event
from apps.events.services import emit


def test_emitted_event_is_dispatched_by_a_real_worker(live_worker):
    with transaction.atomic():
        event = emit(type="config.created", source="test", data={})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if Event.objects.get(pk=event.pk).dispatched_at is not None:
            break
        time.sleep(0.05)
    assert Event.objects.get(pk=event.pk).dispatched_at is not None
