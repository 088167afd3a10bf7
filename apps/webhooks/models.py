from django.db import models

from codeai.api.lookups import new_prefixed_id

RESPONSE_EXCERPT_BYTES = 2048


def new_webhook_id() -> str:
    return new_prefixed_id("wh-")


def new_delivery_id() -> str:
    return new_prefixed_id("delivery-")


class Webhook(models.Model):
    """A subscriber: events of the listed types (all when `events` is empty) are POSTed to `url`."""

    id = models.CharField(primary_key=True, max_length=48, default=new_webhook_id, editable=False)
    url = models.CharField(max_length=2048)
    events = models.JSONField(default=list, blank=True)
    # Kept in clear: signing needs it. It is returned once, in the 201 of POST /webhooks.
    secret = models.CharField(max_length=256)
    headers = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.id} → {self.url}"

    def subscribes_to(self, event_type: str) -> bool:
        return not self.events or event_type in self.events


class Delivery(models.Model):
    """One event for one webhook: the body is serialized once, every attempt sends those bytes."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RETRYING = "retrying"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    OPEN_STATUSES = (Status.PENDING, Status.RETRYING)

    id = models.CharField(primary_key=True, max_length=48, default=new_delivery_id, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    # The event's id, not a foreign key: events and deliveries are pruned independently.
    event_ref = models.CharField(max_length=48)
    event_type = models.CharField(max_length=64)
    url = models.CharField(max_length=2048)
    payload = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # A test delivery is one attempt that leaves the webhook's failure counter alone.
    is_test = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    response_body = models.TextField(blank=True, default="")
    next_retry_at = models.DateTimeField(null=True, blank=True)
    # Set while a worker is sending: another worker does not start a second attempt meanwhile.
    claimed_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_ref"], name="delivery_once_per_event")
        ]
        indexes = [
            models.Index(fields=["webhook", "-created_at"], name="delivery_webhook_created"),
            models.Index(
                fields=["next_retry_at"],
                name="delivery_open_due",
                condition=models.Q(status__in=["pending", "retrying"]),
            ),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return self.id

    @property
    def success(self) -> bool:
        return self.status == self.Status.SUCCEEDED


class DeliveryAttempt(models.Model):
    """One HTTP request of a delivery (or the reason none was sent)."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    url = models.CharField(max_length=2048)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="attempt_number_once")
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"
