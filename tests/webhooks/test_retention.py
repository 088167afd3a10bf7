"""Delivery retention."""

from datetime import timedelta

from django.utils import timezone

from apps.events.services import emit
from apps.webhooks.models import Delivery, DeliveryAttempt
from apps.webhooks.services import delivery_prune


def test_prune_deletes_old_deliveries_and_their_attempts(make_webhook):
    webhook = make_webhook("http://receiver.example/hook")
    for _ in range(3):
        emit(type="job.failed", source="t", data={})
    old, *recent = Delivery.objects.order_by("created_at")
    DeliveryAttempt.objects.create(
        delivery=old, number=1, url=webhook.url, created_at=timezone.now()
    )
    Delivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))
    assert delivery_prune(before=timezone.now() - timedelta(days=90), batch_size=1) == 1
    assert set(Delivery.objects.values_list("id", flat=True)) == {d.id for d in recent}
    assert not DeliveryAttempt.objects.exists()
