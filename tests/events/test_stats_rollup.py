"""/events/stats stays exact when whole hours come from the hourly counts."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.events.models import Event, EventCount, EventCountWatermark
from apps.events.services import event_counts_roll_up, event_prune, event_stats

TYPES = ["job.failed", "job.completed", "workflow.started"]
SOURCES = ["job-scheduler", "workflow-engine"]


@pytest.fixture
def scattered(db):
    """300 events at random minutes over the last three days, and a few just now."""
    rng = random.Random(7)
    now = timezone.now()
    Event.objects.bulk_create(
        Event(
            type=rng.choice(TYPES),
            source=rng.choice(SOURCES),
            timestamp=now - timedelta(seconds=rng.uniform(0, 3 * 86400)),
        )
        for _ in range(300)
    )
    Event.objects.create(type="job.failed", source="job-scheduler", timestamp=now)
    return now


def _windows(now):
    return [
        {},
        {"type": "job.failed"},
        {"source": "workflow-engine"},
        {"start_time": now - timedelta(hours=30, minutes=17)},
        {"end_time": now - timedelta(hours=5, minutes=41)},
        {
            "start_time": now - timedelta(days=2, minutes=3),
            "end_time": now - timedelta(hours=20, seconds=5),
            "type": "job.completed",
        },
        {"start_time": now - timedelta(hours=2, minutes=50), "end_time": now - timedelta(hours=2)},
    ]


def test_stats_are_the_same_before_and_after_the_roll_up(scattered):
    before = [event_stats(**window) for window in _windows(scattered)]
    event_counts_roll_up(max_span=timedelta(days=30))
    assert EventCount.objects.exists()
    assert [event_stats(**window) for window in _windows(scattered)] == before


def test_roll_up_leaves_the_current_hour_to_live_counting(scattered):
    event_counts_roll_up(max_span=timedelta(days=30))
    counted_until = EventCountWatermark.objects.get().counted_until
    assert counted_until <= scattered
    assert not EventCount.objects.filter(bucket__gte=counted_until).exists()


def test_roll_up_advances_at_most_max_span_per_run(scattered):
    event_counts_roll_up(max_span=timedelta(hours=6))
    first = EventCountWatermark.objects.get().counted_until
    event_counts_roll_up(max_span=timedelta(hours=6))
    assert EventCountWatermark.objects.get().counted_until == first + timedelta(hours=6)


def test_counted_totals_match_the_events_they_replace(scattered):
    event_counts_roll_up(max_span=timedelta(days=30))
    counted_until = EventCountWatermark.objects.get().counted_until
    counted = sum(EventCount.objects.values_list("count", flat=True))
    assert counted == Event.objects.filter(timestamp__lt=counted_until).count()


def test_prune_keeps_stats_exact(scattered):
    event_counts_roll_up(max_span=timedelta(days=30))
    event_prune(before=scattered - timedelta(days=1, minutes=30))
    assert event_stats()["total_events"] == Event.objects.count()


def test_stats_endpoint_uses_the_rolled_up_counts(viewer, scattered):
    expected = viewer.get("/events/stats?type=job.failed").json()
    event_counts_roll_up(max_span=timedelta(days=30))
    assert viewer.get("/events/stats?type=job.failed").json() == expected
