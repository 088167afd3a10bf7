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
