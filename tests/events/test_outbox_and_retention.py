"""The outbox sweep and retention, called as services."""

from datetime import timedelta

from django.utils import timezone

from apps.events.models import Event
from apps.events.services import event_dispatch_pending, event_prune


def _event(age: timedelta, *, dispatched: bool = False) -> Event:
    at = timezone.now() - age
    return Event.objects.create(
        type="job.failed", source="t", timestamp=at, dispatched_at=at if dispatched else None
    )


def test_sweep_dispatches_undispatched_events_older_than_the_delay(db):
    old = _event(timedelta(minutes=1))
    assert event_dispatch_pending(older_than=timedelta(seconds=30)) == 1
    old.refresh_from_db()
    assert old.dispatched_at is not None


def test_sweep_leaves_recent_events_to_their_own_message(db):
    recent = _event(timedelta(seconds=5))
    assert event_dispatch_pending(older_than=timedelta(seconds=30)) == 0
    recent.refresh_from_db()
    assert recent.dispatched_at is None


def test_sweep_ignores_dispatched_events(db):
    _event(timedelta(minutes=5), dispatched=True)
    assert event_dispatch_pending(older_than=timedelta(seconds=30)) == 0


def test_sweep_takes_at_most_its_limit(db):
    for _ in range(3):
        _event(timedelta(minutes=1))
    assert event_dispatch_pending(older_than=timedelta(seconds=30), limit=2) == 2
    assert Event.objects.filter(dispatched_at__isnull=True).count() == 1


def test_prune_deletes_only_events_older_than_the_cutoff(db):
    old, kept = _event(timedelta(days=91)), _event(timedelta(days=89))
    assert event_prune(before=timezone.now() - timedelta(days=90), batch_size=1) == 1
    assert list(Event.objects.values_list("id", flat=True)) == [kept.id]
    assert not Event.objects.filter(pk=old.pk).exists()


def test_prune_works_through_several_batches(db):
    for _ in range(5):
        _event(timedelta(days=100))
    assert event_prune(before=timezone.now() - timedelta(days=90), batch_size=2) == 5
    assert not Event.objects.exists()
