"""One delivery attempt at a time, against a real local receiver (no worker involved)."""

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook as Verifier
from werkzeug import Response

from apps.events.models import Event
from apps.events.services import emit, event_fan_out
from apps.webhooks.models import Delivery, DeliveryAttempt, Webhook
from apps.webhooks.services import (
    delivery_attempt,
    delivery_requeue_stuck,
    webhook_test,
)


@pytest.fixture
def delivery_for(make_webhook):
    """delivery_for(webhook, type=...) → a fresh Delivery of a newly emitted event."""

    def make(webhook: Webhook, type: str = "job.completed", data=None) -> Delivery:
        event = emit(type=type, source="job-scheduler", data=data or {"job_id": "job-1"})
        return Delivery.objects.get(webhook=webhook, event_ref=event.id)

    return make


def _headers(request) -> dict[str, str]:
    return {key.lower(): value for key, value in request.headers.items()}


def test_success_marks_the_delivery_succeeded(make_webhook, delivery_for, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok", status=200)
    delivery = delivery_for(make_webhook(httpserver.url_for("/hook")))
    delivery = delivery_attempt(delivery_id=delivery.id)
    assert (delivery.status, delivery.success, delivery.status_code) == ("succeeded", True, 200)
    assert (delivery.attempts, delivery.response_body) == (1, "ok")
    assert delivery.delivered_at is not None and delivery.duration_ms is not None


def test_body_is_the_event_in_the_documented_shape(make_webhook, delivery_for, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    delivery = delivery_for(make_webhook(httpserver.url_for("/hook")), data={"job_id": "j"})
    delivery_attempt(delivery_id=delivery.id)
    request, _ = httpserver.log[0]
    body = json.loads(request.get_data())
    event = Event.objects.get(pk=delivery.event_ref)
    assert list(body) == ["type", "timestamp", "data", "id", "source", "metadata"]
    assert body["id"] == event.id and body["type"] == "job.completed"
    assert body["data"] == {"job_id": "j"} and body["source"] == "job-scheduler"
    assert body["timestamp"].endswith("Z")


def test_sent_bytes_are_the_stored_payload(make_webhook, delivery_for, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    delivery = delivery_for(make_webhook(httpserver.url_for("/hook")))
    delivery_attempt(delivery_id=delivery.id)
    assert httpserver.log[0][0].get_data() == delivery.payload.encode()


def test_signature_verifies_with_the_generated_secret(make_webhook, delivery_for, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    webhook = make_webhook(httpserver.url_for("/hook"))
    delivery_attempt(delivery_id=delivery_for(webhook).id)
    request, _ = httpserver.log[0]
    Verifier(webhook.secret).verify(request.get_data(), _headers(request))


def test_signature_verifies_with_a_plain_secret_as_raw_bytes(
    make_webhook, delivery_for, httpserver
):
    httpserver.expect_request("/hook").respond_with_data("ok")
    webhook = make_webhook(httpserver.url_for("/hook"), secret="your-webhook-secret")
    delivery_attempt(delivery_id=delivery_for(webhook).id)
    request, _ = httpserver.log[0]
    Verifier(b"your-webhook-secret").verify(request.get_data(), _headers(request))


def test_standard_webhooks_headers_are_sent(make_webhook, delivery_for, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    delivery = delivery_for(make_webhook(httpserver.url_for("/hook")))
    delivery_attempt(delivery_id=delivery.id)
    headers = _headers(httpserver.log[0][0])
    assert headers["webhook-id"] == delivery.event_ref
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 300
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"] == "application/json"


def test_custom_headers_are_sent(make_webhook, delivery_for, httpserver):
    httpserver.expect_request("/hook", headers={"X-Custom-Header": "v"}).respond_with_data("ok")
    webhook = make_webhook(httpserver.url_for("/hook"), headers={"X-Custom-Header": "v"})
    assert delivery_attempt(delivery_id=delivery_for(webhook).id).success


def test_server_error_schedules_a_retry(make_webhook, delivery_for, httpserver, short_retries):
    httpserver.expect_request("/hook").respond_with_data("boom", status=500)
    delivery = delivery_for(make_webhook(httpserver.url_for("/hook")))
    before = timezone.now()
    delivery = delivery_attempt(delivery_id=delivery.id)
    assert (delivery.status, delivery.status_code, delivery.error) == (
        "retrying",
        500,
        "receiver answered 500",
    )
    # Second delay of "0s,1s,1s" is 1 s, ±20 % jitter.
    assert before + timedelta(seconds=0.8) <= delivery.next_retry_at
    assert delivery.next_retry_at <= timezone.now() + timedelta(seconds=1.2)


def test_an_attempt_before_the_retry_is_due_does_nothing(
    make_webhook, delivery_for, httpserver, settings
):
    settings.CODEAI_WEBHOOK_RETRY_SCHEDULE = "0s,1h"
    httpserver.expect_request("/hook").respond_with_data("boom", status=500)
    delivery = delivery_for(make_webhook(httpserver.url_for("/hook")))
    delivery_attempt(delivery_id=delivery.id)
    assert delivery_attempt(delivery_id=delivery.id) is None
    assert len(httpserver.log) == 1


def test_exhausted_retries_fail_the_delivery_and_count_a_failure(
    make_webhook, delivery_for, httpserver, settings
):
    settings.CODEAI_WEBHOOK_RETRY_SCHEDULE = "0s,0s,0s"
    httpserver.expect_request("/hook").respond_with_data("boom", status=503)
    webhook = make_webhook(httpserver.url_for("/hook"))
    delivery = delivery_for(webhook)
    for _ in range(3):
        delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    webhook.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_retry_at) == ("failed", 3, None)
    assert webhook.consecutive_failures == 1
    assert delivery_attempt(delivery_id=delivery.id) is None


def test_every_attempt_is_recorded(make_webhook, delivery_for, httpserver, settings):
    settings.CODEAI_WEBHOOK_RETRY_SCHEDULE = "0s,0s"
    httpserver.expect_ordered_request("/hook").respond_with_data("no", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("yes", status=201)
    delivery = delivery_for(make_webhook(httpserver.url_for("/hook")))
    delivery_attempt(delivery_id=delivery.id)
    delivery_attempt(delivery_id=delivery.id)
    attempts = DeliveryAttempt.objects.filter(delivery=delivery).order_by("number")
    assert [(a.number, a.status_code, a.response_body) for a in attempts] == [
        (1, 500, "no"),
        (2, 201, "yes"),
    ]


def test_gone_disables_the_webhook_and_stops(make_webhook, delivery_for, httpserver):
    httpserver.expect_request("/hook").respond_with_data("bye", status=410)
    webhook = make_webhook(httpserver.url_for("/hook"))
    delivery = delivery_attempt(delivery_id=delivery_for(webhook).id)
    webhook.refresh_from_db()
    assert (delivery.status, delivery.next_retry_at, webhook.active) == ("failed", None, False)
    assert Event.objects.filter(type="webhook.disabled", data__webhook_id=webhook.id).exists()


def test_open_deliveries_of_a_disabled_webhook_fail_without_a_request(
    make_webhook, delivery_for, httpserver
):
    webhook = make_webhook(httpserver.url_for("/hook"))
    delivery = delivery_for(webhook)
    Webhook.objects.filter(pk=webhook.pk).update(active=False)
    assert delivery_attempt(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error) == ("failed", "webhook is disabled")
    assert httpserver.log == []


def test_consecutive_exhausted_deliveries_disable_the_webhook(
    make_webhook, delivery_for, httpserver, settings
):
    settings.CODEAI_WEBHOOK_RETRY_SCHEDULE = "0s"
    settings.CODEAI_WEBHOOK_DISABLE_AFTER = 3
    httpserver.expect_request("/hook").respond_with_data("boom", status=500)
    webhook = make_webhook(httpserver.url_for("/hook"))
    for _ in range(3):
        delivery_attempt(delivery_id=delivery_for(webhook).id)
    webhook.refresh_from_db()
    assert (webhook.active, webhook.consecutive_failures) == (False, 3)
    disabled = Event.objects.get(type="webhook.disabled")
    assert disabled.data["webhook_id"] == webhook.id
    assert disabled.data["reason"] == "consecutive_failures"


def test_fewer_consecutive_failures_keep_the_webhook_active(
    make_webhook, delivery_for, httpserver, settings
):
    settings.CODEAI_WEBHOOK_RETRY_SCHEDULE = "0s"
    settings.CODEAI_WEBHOOK_DISABLE_AFTER = 3
    httpserver.expect_request("/hook").respond_with_data("boom", status=500)
    webhook = make_webhook(httpserver.url_for("/hook"))
    for _ in range(2):
        delivery_attempt(delivery_id=delivery_for(webhook).id)
    webhook.refresh_from_db()
    assert (webhook.active, webhook.consecutive_failures) == (True, 2)
    assert not Event.objects.filter(type="webhook.disabled").exists()


def test_a_success_resets_the_failure_count(make_webhook, delivery_for, httpserver, settings):
    settings.CODEAI_WEBHOOK_RETRY_SCHEDULE = "0s"
    httpserver.expect_ordered_request("/hook").respond_with_data("boom", status=500)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    webhook = make_webhook(httpserver.url_for("/hook"))
    delivery_attempt(delivery_id=delivery_for(webhook).id)
    delivery_attempt(delivery_id=delivery_for(webhook).id)
    webhook.refresh_from_db()
    assert webhook.consecutive_failures == 0
    assert webhook.last_delivery_at is not None


def test_success_emits_webhook_triggered(make_webhook, delivery_for, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    delivery = delivery_for(make_webhook(httpserver.url_for("/hook")))
    delivery_attempt(delivery_id=delivery.id)
    triggered = Event.objects.get(type="webhook.triggered")
    assert triggered.data["delivery_id"] == delivery.id
    assert triggered.data["event_id"] == delivery.event_ref


def test_delivering_a_webhook_event_never_emits_webhook_triggered(
    make_webhook, delivery_for, httpserver
):
    httpserver.expect_request("/hook").respond_with_data("ok")
    webhook = make_webhook(httpserver.url_for("/hook"))
    delivery_attempt(delivery_id=delivery_for(webhook, type="webhook.triggered").id)
    assert Event.objects.filter(type="webhook.triggered").count() == 1  # only the delivered one


def test_a_succeeded_delivery_is_never_sent_again(make_webhook, delivery_for, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    delivery = delivery_for(make_webhook(httpserver.url_for("/hook")))
    delivery_attempt(delivery_id=delivery.id)
    Delivery.objects.filter(pk=delivery.pk).update(next_retry_at=timezone.now())
    assert delivery_attempt(delivery_id=delivery.id) is None
    assert len(httpserver.log) == 1


def test_a_delivery_claimed_by_another_worker_is_not_sent(make_webhook, delivery_for, httpserver):
    delivery = delivery_for(make_webhook(httpserver.url_for("/hook")))
    Delivery.objects.filter(pk=delivery.pk).update(
        claimed_until=timezone.now() + timedelta(minutes=1)
    )
    assert delivery_attempt(delivery_id=delivery.id) is None
    assert httpserver.log == []


def test_an_unknown_delivery_is_ignored(db):
    assert delivery_attempt(delivery_id="delivery-00000000-0000-0000-0000-000000000000") is None


def test_connection_refused_is_recorded_and_retried(make_webhook, delivery_for, short_retries):
    delivery = delivery_for(make_webhook("http://127.0.0.1:9/hook"))
    delivery = delivery_attempt(delivery_id=delivery.id)
    assert (delivery.status, delivery.status_code) == ("retrying", None)
    assert delivery.error.startswith("connection error:")


def test_a_slow_receiver_times_out(make_webhook, delivery_for, httpserver, settings, wait_for):
    settings.CODEAI_WEBHOOK_TIMEOUT_SECONDS = 1
    release = threading.Event()

    def slow(request):
        release.wait(10)
        return Response("late")

    httpserver.expect_request("/hook").respond_with_handler(slow)
    delivery = delivery_attempt(
        delivery_id=delivery_for(make_webhook(httpserver.url_for("/hook"))).id
    )
    release.set()
    wait_for(lambda: httpserver.log)  # let the receiver finish inside this test
    assert (delivery.success, delivery.error) == (False, "timed out after 1s")


def test_redirects_are_not_followed(make_webhook, delivery_for, httpserver, short_retries):
    httpserver.expect_request("/hook").respond_with_data(
        "", status=307, headers={"Location": "/elsewhere"}
    )
    delivery = delivery_attempt(
        delivery_id=delivery_for(make_webhook(httpserver.url_for("/hook"))).id
    )
    assert (delivery.status_code, delivery.status) == (307, "retrying")
    assert [r.path for r, _ in httpserver.log] == ["/hook"]


def test_response_excerpt_is_at_most_2_kb(make_webhook, delivery_for, httpserver):
    httpserver.expect_request("/hook").respond_with_data("x" * 100_000)
    delivery = delivery_attempt(
        delivery_id=delivery_for(make_webhook(httpserver.url_for("/hook"))).id
    )
    assert delivery.response_body == "x" * 2048


def test_emit_creates_one_delivery_per_subscribed_active_webhook(make_webhook):
    subscribed = make_webhook("http://receiver.example/a", events=["job.failed"])
    everything = make_webhook("http://receiver.example/b")
    make_webhook("http://receiver.example/c", events=["job.completed"])
    inactive = make_webhook("http://receiver.example/d")
    Webhook.objects.filter(pk=inactive.pk).update(active=False)
    emit(type="job.failed", source="t", data={})
    assert set(Delivery.objects.values_list("webhook_id", flat=True)) == {
        subscribed.id,
        everything.id,
    }


def test_emit_marks_the_event_dispatched(make_webhook):
    event = emit(type="job.failed", source="t", data={})
    event.refresh_from_db()
    assert event.dispatched_at == event.timestamp


def test_emit_rolled_back_with_its_transaction_leaves_no_delivery(make_webhook):
    make_webhook("http://receiver.example/a")
    with pytest.raises(RuntimeError), transaction.atomic():
        emit(type="job.failed", source="t", data={})
        raise RuntimeError("the change the event reports failed")
    assert (Event.objects.count(), Delivery.objects.count()) == (0, 0)


def test_emit_serializes_the_body_once_for_every_webhook(make_webhook):
    make_webhook("http://receiver.example/a")
    make_webhook("http://receiver.example/b")
    emit(type="job.failed", source="t", data={"n": 1})
    assert len(set(Delivery.objects.values_list("payload", flat=True))) == 1


def _undispatched_event() -> Event:
    """An event row written without its deliveries (as before emit() wrote them together)."""
    return Event.objects.create(type="job.failed", source="t", timestamp=timezone.now())


def test_fan_out_creates_the_deliveries_of_an_undispatched_event(make_webhook):
    webhook = make_webhook("http://receiver.example/a")
    event = _undispatched_event()
    event_fan_out(event_id=event.id)
    assert list(Delivery.objects.values_list("webhook_id", "event_ref")) == [(webhook.id, event.id)]


def test_fan_out_marks_the_event_dispatched(make_webhook):
    event = _undispatched_event()
    event_fan_out(event_id=event.id)
    event.refresh_from_db()
    assert event.dispatched_at is not None


def test_fan_out_is_idempotent(make_webhook):
    make_webhook("http://receiver.example/a")
    event = _undispatched_event()
    event_fan_out(event_id=event.id)
    Event.objects.filter(pk=event.pk).update(dispatched_at=None)  # a redelivered message
    event_fan_out(event_id=event.id)
    assert Delivery.objects.count() == 1


def test_test_events_are_not_fanned_out(make_webhook):
    make_webhook("http://receiver.example/a")
    emit(type="webhook.test", source="t", data={})
    assert not Delivery.objects.exists()


def test_sweep_requeues_only_long_overdue_open_deliveries(make_webhook, delivery_for):
    webhook = make_webhook("http://receiver.example/a")
    stuck, fresh = delivery_for(webhook), delivery_for(webhook)
    Delivery.objects.filter(pk=stuck.pk).update(
        next_retry_at=timezone.now() - timedelta(minutes=10)
    )
    assert delivery_requeue_stuck(older_than=timedelta(minutes=2)) == 1
    stuck.refresh_from_db()
    assert stuck.next_retry_at > timezone.now() - timedelta(minutes=1)
    assert Delivery.objects.get(pk=fresh.pk).status == "pending"


def test_sweep_waits_the_configured_time_past_due(make_webhook, delivery_for, settings):
    settings.CODEAI_WEBHOOK_REQUEUE_AFTER_SECONDS = 30
    webhook = make_webhook("http://receiver.example/a")
    overdue, recent = delivery_for(webhook), delivery_for(webhook)
    now = timezone.now()
    Delivery.objects.filter(pk=overdue.pk).update(next_retry_at=now - timedelta(seconds=40))
    Delivery.objects.filter(pk=recent.pk).update(next_retry_at=now - timedelta(seconds=20))
    assert delivery_requeue_stuck() == 1
    assert Delivery.objects.get(pk=overdue.pk).next_retry_at > now
    assert Delivery.objects.get(pk=recent.pk).next_retry_at < now


def test_sweep_leaves_a_claimed_delivery_alone(make_webhook, delivery_for):
    delivery = delivery_for(make_webhook("http://receiver.example/a"))
    Delivery.objects.filter(pk=delivery.pk).update(
        next_retry_at=timezone.now() - timedelta(minutes=10),
        claimed_until=timezone.now() + timedelta(seconds=30),
    )
    assert delivery_requeue_stuck(older_than=timedelta(minutes=2)) == 0


def test_outbox_sweep_requeues_only_deliveries_never_attempted(make_webhook, delivery_for):
    webhook = make_webhook("http://receiver.example/a")
    unsent, retrying = delivery_for(webhook), delivery_for(webhook)
    overdue = timezone.now() - timedelta(minutes=1)
    Delivery.objects.filter(pk=unsent.pk).update(next_retry_at=overdue)
    Delivery.objects.filter(pk=retrying.pk).update(
        next_retry_at=overdue, attempts=1, status="retrying"
    )
    assert delivery_requeue_stuck(older_than=timedelta(seconds=30), never_attempted=True) == 1
    assert Delivery.objects.get(pk=retrying.pk).next_retry_at == overdue


def test_a_test_delivery_failing_leaves_the_webhook_state_alone(make_webhook, httpserver):
    httpserver.expect_request("/hook").respond_with_data("gone", status=410)
    webhook = make_webhook(httpserver.url_for("/hook"))
    delivery = webhook_test(webhook=webhook)
    webhook.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert (webhook.active, webhook.consecutive_failures) == (True, 0)


def test_a_body_that_stalls_after_a_2xx_status_still_succeeds(
    make_webhook, delivery_for, httpserver, settings, wait_for
):
    settings.CODEAI_WEBHOOK_TIMEOUT_SECONDS = 1
    release = threading.Event()

    def stalling_body():
        yield b"accepted"
        release.wait(10)
        yield b"x" * 5000

    httpserver.expect_request("/hook").respond_with_handler(
        lambda request: Response(stalling_body(), status=202)
    )
    delivery = delivery_attempt(
        delivery_id=delivery_for(make_webhook(httpserver.url_for("/hook"))).id
    )
    release.set()
    wait_for(lambda: httpserver.log)
    assert (delivery.success, delivery.status_code, delivery.response_body) == (True, 202, "")


def _deliver_once(webhook: Webhook, delivery_for) -> tuple[Delivery, DeliveryAttempt, Event]:
    delivery = delivery_attempt(delivery_id=delivery_for(webhook).id)
    return (
        Delivery.objects.get(pk=delivery.pk),
        DeliveryAttempt.objects.get(delivery=delivery),
        Event.objects.get(type="webhook.triggered", data__delivery_id=delivery.id),
    )


def test_a_success_is_recorded_alike_with_or_without_a_webhook_triggered_subscriber(
    make_webhook, delivery_for, httpserver
):
    # Without a subscriber to webhook.triggered, PostgreSQL records a success in one statement
    # (emit_returning); with one, through the ORM and emit(), which also writes its delivery.
    httpserver.expect_request("/hook").respond_with_data("ok")
    url = httpserver.url_for("/hook")
    webhook = make_webhook(url, events=["job.completed"])
    recorded = []
    for watcher_events in (None, ["webhook.triggered"]):
        if watcher_events:
            watcher = make_webhook(httpserver.url_for("/watch"), events=watcher_events)
        Webhook.objects.filter(pk=webhook.pk).update(consecutive_failures=2, last_delivery_at=None)
        stored, attempt, triggered = _deliver_once(webhook, delivery_for)
        webhook.refresh_from_db()
        recorded.append(
            (
                (stored.status, stored.status_code, stored.response_body, stored.error),
                (stored.claimed_until, stored.delivered_at is not None),
                (attempt.number, attempt.url, attempt.status_code, attempt.response_body),
                {**triggered.data, "delivery_id": "-", "event_id": "-"},
                (triggered.source, triggered.metadata),
                (webhook.consecutive_failures, webhook.last_delivery_at is not None),
            )
        )
    assert recorded[0] == recorded[1]
    assert recorded[0][3] == {
        "webhook_id": webhook.id,
        "delivery_id": "-",
        "event_id": "-",
        "event_type": "job.completed",
        "status_code": 200,
        "attempts": 1,
    }
    assert Delivery.objects.filter(webhook=watcher, event_type="webhook.triggered").count() == 1
