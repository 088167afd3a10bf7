"""emit() skips the fan-out for event types nobody subscribes to, without missing new webhooks."""

import time

from apps.events.services import emit
from apps.webhooks.models import Delivery
from apps.webhooks.services import webhook_update


def test_an_event_nobody_subscribes_to_reads_no_webhooks(make_webhook, django_assert_num_queries):
    make_webhook("http://receiver.example/a", events=["job.failed"])
    emit(type="job.failed", source="t", data={})  # takes this process's snapshot
    with django_assert_num_queries(1):  # the event's INSERT
        emit(type="job.completed", source="t", data={})


def test_a_webhook_created_after_the_snapshot_gets_the_next_event(make_webhook):
    emit(type="job.failed", source="t", data={})  # snapshot: nobody subscribes
    webhook = make_webhook("http://receiver.example/a", events=["job.failed"])
    event = emit(type="job.failed", source="t", data={})
    assert Delivery.objects.filter(webhook=webhook, event_ref=event.id).exists()


def test_a_webhook_widened_after_the_snapshot_gets_the_next_event(make_webhook):
    webhook = make_webhook("http://receiver.example/a", events=["job.failed"])
    emit(type="job.completed", source="t", data={})  # snapshot: only job.failed
    webhook_update(webhook=webhook, events=["job.failed", "job.completed"])
    event = emit(type="job.completed", source="t", data={})
    assert Delivery.objects.filter(webhook=webhook, event_ref=event.id).exists()


def test_a_webhook_reactivated_after_the_snapshot_gets_the_next_event(make_webhook):
    webhook = make_webhook("http://receiver.example/a", events=["job.failed"])
    webhook_update(webhook=webhook, active=False)
    emit(type="job.failed", source="t", data={})  # snapshot: nobody subscribes
    webhook_update(webhook=webhook, active=True)
    event = emit(type="job.failed", source="t", data={})
    assert Delivery.objects.filter(webhook=webhook, event_ref=event.id).exists()


def test_creating_a_webhook_answers_only_after_other_processes_snapshots_expired(
    make_webhook, settings, django_capture_on_commit_callbacks
):
    settings.CODEAI_WEBHOOK_SUBSCRIPTION_CACHE_MS = 200
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        make_webhook("http://receiver.example/a")
    assert time.monotonic() - started >= 0.2


def test_narrowing_a_webhook_does_not_wait(
    make_webhook, settings, django_capture_on_commit_callbacks
):
    webhook = make_webhook("http://receiver.example/a", events=["job.failed", "job.completed"])
    settings.CODEAI_WEBHOOK_SUBSCRIPTION_CACHE_MS = 60_000
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        webhook_update(webhook=webhook, events=["job.failed"])
    assert callbacks == []
