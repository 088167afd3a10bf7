from django.db import models

from codeai.api.lookups import new_prefixed_id


def new_event_id() -> str:
    return new_prefixed_id("evt-")


class Event(models.Model):
    """One state change, written in the same transaction as the change (the outbox row)."""

    id = models.CharField(primary_key=True, max_length=48, default=new_event_id, editable=False)
    type = models.CharField(max_length=64)
    source = models.CharField(max_length=128)
    timestamp = models.DateTimeField(db_index=True)
    data = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["type", "-timestamp"], name="event_type_ts"),
            models.Index(fields=["source", "-timestamp"], name="event_source_ts"),
            models.Index(
                fields=["timestamp"],
                name="event_undispatched",
                condition=models.Q(dispatched_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class EventCount(models.Model):
    """Events per hour, type and source: /events/stats reads these instead of scanning the log.

    Written only by the roll-up (services.event_counts_roll_up) for hours before the watermark.
    """

    bucket = models.DateTimeField()  # the hour's start, UTC
    type = models.CharField(max_length=64)
    source = models.CharField(max_length=128)
    count = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bucket", "type", "source"], name="event_count_once")
        ]

    def __str__(self) -> str:
        return f"{self.bucket:%Y-%m-%dT%H}Z {self.type} {self.source}: {self.count}"


class EventCountWatermark(models.Model):
    """One row: every hour before `counted_until` is in EventCount (None: nothing rolled up)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    counted_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"counted until {self.counted_until}"
