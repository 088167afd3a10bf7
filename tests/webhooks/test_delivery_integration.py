"""End to end: emit() → commit → a real Celery worker on the real broker → a real receiver."""

import json

import pytest
from django.db import transaction
from standardwebhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError
from werkzeug import Response

from apps.events.models import Event
from apps.events.services import emit
from apps.webhooks.models import Delivery, DeliveryAttempt, Webhook

pytestmark = pytest.mark.integration


def _emit_committed(type: str = "job.completed", **data) -> Event:
    with transaction.atomic():
        return emit(type=type, source="job-scheduler", data=data)


def _finished(webhook: Webhook, event: Event) -> Delivery | None:
    return Delivery.objects.filter(
        webhook=webhook, event_ref=event.id, status__in=["succeeded", "failed"]
    ).first()


def test_a_delivery_from_the_worker_verifies_with_standard_webhooks(
    live_worker, make_webhook, httpserver, wait_for
):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    webhook = make_webhook(httpserver.url_for("/hook"), events=["job.completed"])
    event = _emit_committed(job_id="job-42")
    wait_for(lambda: httpserver.log)
    request, _ = httpserver.log[0]
    payload = Verifier(webhook.secret).verify(request.get_data(), dict(request.headers))
    assert (payload["id"], payload["type"], payload["data"]) == (
        event.id,
        "job.completed",
        {"job_id": "job-42"},
    )


def test_a_delivery_that_finds_the_database_unreachable_is_sent_again_shortly(
    live_worker, make_webhook, httpserver, wait_for, database_unreachable_once
):
    from apps.webhooks import services

    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    webhook = make_webhook(httpserver.url_for("/hook"), events=["job.completed"])
    calls = database_unreachable_once(
        services,
        "delivery_attempt",
        lambda call: Delivery.objects.filter(pk=call["delivery_id"], webhook=webhook).exists(),
    )
    event = _emit_committed(job_id="job-42")
    delivery = wait_for(lambda: _finished(webhook, event), seconds=10)
    assert (delivery.status, delivery.attempts, len(httpserver.log)) == ("succeeded", 1, 1)
    assert [call["delivery_id"] for call in calls] == [delivery.id, delivery.id]


def test_a_tampered_body_does_not_verify(live_worker, make_webhook, httpserver, wait_for):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    webhook = make_webhook(httpserver.url_for("/hook"), events=["job.completed"])
    _emit_committed(job_id="job-42")
    wait_for(lambda: httpserver.log)
    request, _ = httpserver.log[0]
    tampered = request.get_data().replace(b"job-42", b"job-43")
    with pytest.raises(WebhookVerificationError):
        Verifier(webhook.secret).verify(tampered, dict(request.headers))


def test_an_event_reaches_every_subscribed_webhook_and_no_other(
    live_worker, make_webhook, httpserver, wait_for
):
    for path in ("/a", "/b", "/c"):
        httpserver.expect_request(path, method="POST").respond_with_data("ok")
    first = make_webhook(httpserver.url_for("/a"), events=["job.failed"])
    second = make_webhook(httpserver.url_for("/b"), events=["job.failed", "job.completed"])
    unsubscribed = make_webhook(httpserver.url_for("/c"), events=["workflow.failed"])
    event = _emit_committed(type="job.failed")
    wait_for(lambda: _finished(first, event) and _finished(second, event))
    assert _finished(first, event).success and _finished(second, event).success
    assert sorted(request.path for request, _ in httpserver.log) == ["/a", "/b"]
    assert not Delivery.objects.filter(webhook=unsubscribed).exists()


def test_two_server_errors_then_ok_is_three_attempts_and_a_success(
    live_worker, make_webhook, httpserver, wait_for, short_retries
):
    answers = iter([500, 500, 200])
    httpserver.expect_request("/hook").respond_with_handler(
        lambda request: Response("", status=next(answers))
    )
    webhook = make_webhook(httpserver.url_for("/hook"), events=["job.completed"])
    event = _emit_committed()
    delivery = wait_for(lambda: _finished(webhook, event))
    assert (delivery.success, delivery.attempts, delivery.status_code) == (True, 3, 200)
    assert list(
        DeliveryAttempt.objects.filter(delivery=delivery)
        .order_by("number")
        .values_list("status_code", flat=True)
    ) == [500, 500, 200]
    ids = {request.headers["webhook-id"] for request, _ in httpserver.log}
    assert ids == {event.id}  # the same message id on every attempt


def test_a_success_is_recorded_as_webhook_triggered(
    live_worker, make_webhook, httpserver, wait_for
):
    httpserver.expect_request("/hook").respond_with_data("ok")
    webhook = make_webhook(httpserver.url_for("/hook"), events=["job.completed"])
    event = _emit_committed()
    triggered = wait_for(
        lambda: Event.objects.filter(type="webhook.triggered", data__event_id=event.id).first()
    )
    assert triggered.data["webhook_id"] == webhook.id


def test_gone_disables_the_webhook(live_worker, make_webhook, httpserver, wait_for):
    httpserver.expect_request("/hook").respond_with_data("", status=410)
    webhook = make_webhook(httpserver.url_for("/hook"), events=["job.completed"])
    event = _emit_committed()
    delivery = wait_for(lambda: _finished(webhook, event))
    webhook.refresh_from_db()
    assert (delivery.success, delivery.attempts, webhook.active) == (False, 1, False)


def test_an_event_committed_while_the_broker_is_down_is_delivered_by_the_sweep(
    live_worker, make_webhook, httpserver, wait_for, settings, monkeypatch
):
    from apps.events.tasks import event_outbox_sweep

    httpserver.expect_request("/hook").respond_with_data("ok")
    webhook = make_webhook(httpserver.url_for("/hook"), events=["job.completed"])
    with monkeypatch.context() as outage:
        # Publishing now goes to a port where nothing listens: the on_commit enqueue fails.
        outage.setattr(live_worker.amqp, "_producer_pool", None)
        outage.setattr(live_worker.conf, "broker_url", "redis://127.0.0.1:1/0")
        event = _emit_committed()
    assert Delivery.objects.get(event_ref=event.id).attempts == 0
    assert httpserver.log == []

    settings.CODEAI_EVENT_OUTBOX_DELAY_SECONDS = 0
    event_outbox_sweep.delay()
    delivery = wait_for(lambda: _finished(webhook, event))
    assert delivery.success
    assert len(httpserver.log) == 1


def test_retry_through_the_api_delivers_a_failed_delivery(
    live_worker, make_webhook, httpserver, wait_for, settings, admin
):
    settings.CODEAI_WEBHOOK_RETRY_SCHEDULE = "0s"
    answers = iter([503, 200])
    httpserver.expect_request("/hook").respond_with_handler(
        lambda request: Response("", status=next(answers))
    )
    webhook = make_webhook(httpserver.url_for("/hook"), events=["job.completed"])
    event = _emit_committed()
    failed = wait_for(lambda: _finished(webhook, event))
    assert not failed.success

    response = admin.post(f"/webhooks/deliveries/{failed.id}/retry")
    assert response.json() == {"status": "retry initiated"}
    delivered = wait_for(lambda: Delivery.objects.filter(pk=failed.pk, status="succeeded").first())
    assert delivered.attempts == 2
    bodies = {request.get_data() for request, _ in httpserver.log}
    assert len(bodies) == 1 and json.loads(bodies.pop())["id"] == event.id
