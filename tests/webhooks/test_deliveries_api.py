"""POST /webhooks/{id}/test, GET /webhooks/{id}/deliveries, POST /webhooks/deliveries/{id}/retry."""

import pytest
from django.utils import timezone

from apps.events.models import Event
from apps.events.services import emit
from apps.webhooks.models import Delivery, Webhook

DELIVERY_FIELDS = {
    "id",
    "webhook_id",
    "event_id",
    "event_type",
    "url",
    "status_code",
    "duration_ms",
    "attempts",
    "success",
    "delivered_at",
}


@pytest.fixture
def receiver(httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    return httpserver.url_for("/hook")


def _deliveries(webhook: Webhook, count: int, status: str) -> list[Delivery]:
    deliveries = []
    for _ in range(count):
        event = emit(type="job.completed", source="t", data={})
        deliveries.append(Delivery.objects.get(event_ref=event.id, webhook=webhook))
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(status=status)
    return deliveries


def test_test_endpoint_delivers_and_returns_the_delivery_record(admin, make_webhook, receiver):
    webhook = make_webhook(receiver)
    response = admin.post(f"/webhooks/{webhook.id}/test")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == DELIVERY_FIELDS
    assert body["id"].startswith("delivery-")
    assert (body["webhook_id"], body["event_type"], body["url"]) == (
        webhook.id,
        "webhook.test",
        receiver,
    )
    assert (body["status_code"], body["attempts"], body["success"]) == (200, 1, True)
    assert body["delivered_at"].endswith("Z") and isinstance(body["duration_ms"], int)


def test_test_endpoint_sends_a_signed_webhook_test_event(admin, make_webhook, httpserver):
    from standardwebhooks import Webhook as Verifier

    httpserver.expect_request("/hook").respond_with_data("ok")
    webhook = make_webhook(httpserver.url_for("/hook"))
    admin.post(f"/webhooks/{webhook.id}/test")
    request, _ = httpserver.log[0]
    payload = Verifier(webhook.secret).verify(request.get_data(), dict(request.headers))
    assert payload["type"] == "webhook.test"
    assert payload["data"]["webhook_id"] == webhook.id


def test_test_event_is_recorded_in_the_event_log(admin, make_webhook, receiver):
    webhook = make_webhook(receiver)
    body = admin.post(f"/webhooks/{webhook.id}/test").json()
    assert Event.objects.get(pk=body["event_id"]).type == "webhook.test"


def test_test_endpoint_reports_a_failing_receiver(admin, make_webhook, httpserver):
    httpserver.expect_request("/hook").respond_with_data("nope", status=500)
    body = admin.post(f"/webhooks/{make_webhook(httpserver.url_for('/hook')).id}/test").json()
    assert (body["success"], body["status_code"], body["delivered_at"]) == (False, 500, None)


def test_test_endpoint_works_for_an_inactive_webhook(admin, make_webhook, receiver):
    webhook = make_webhook(receiver)
    Webhook.objects.filter(pk=webhook.pk).update(active=False)
    assert admin.post(f"/webhooks/{webhook.id}/test").json()["success"] is True


def test_test_endpoint_for_unknown_webhook_is_404(admin):
    response = admin.post("/webhooks/wh-00000000-0000-0000-0000-000000000000/test")
    assert response.status_code == 404
    assert response.json() == {"error": "webhook not found", "details": {}}


def test_test_endpoint_as_editor_is_403(editor, make_webhook, receiver):
    assert editor.post(f"/webhooks/{make_webhook(receiver).id}/test").status_code == 403


def test_last_delivery_is_set_after_a_delivery(admin, make_webhook, receiver):
    webhook = make_webhook(receiver)
    admin.post(f"/webhooks/{webhook.id}/test")
    assert admin.get(f"/webhooks/{webhook.id}").json()["last_delivery"].endswith("Z")


def test_deliveries_list_uses_the_deliveries_key_with_totals(admin, make_webhook):
    webhook = make_webhook("http://receiver.example/hook")
    _deliveries(webhook, 3, "pending")
    body = admin.get(f"/webhooks/{webhook.id}/deliveries?limit=2&offset=1").json()
    assert set(body) == {"deliveries", "limit", "offset", "total"}
    assert (len(body["deliveries"]), body["limit"], body["offset"], body["total"]) == (2, 2, 1, 3)
    assert set(body["deliveries"][0]) == DELIVERY_FIELDS


def test_deliveries_list_shows_only_this_webhooks_deliveries(admin, make_webhook):
    mine = make_webhook("http://receiver.example/mine")
    make_webhook("http://receiver.example/other")
    _deliveries(mine, 1, "pending")
    body = admin.get(f"/webhooks/{mine.id}/deliveries").json()
    assert body["total"] == 1
    assert body["deliveries"][0]["webhook_id"] == mine.id


def test_deliveries_list_filters_by_success(admin, make_webhook):
    webhook = make_webhook("http://receiver.example/hook")
    succeeded = _deliveries(webhook, 2, "succeeded")
    _deliveries(webhook, 1, "failed")
    _deliveries(webhook, 1, "retrying")
    body = admin.get(f"/webhooks/{webhook.id}/deliveries?success=true").json()
    assert {d["id"] for d in body["deliveries"]} == {d.id for d in succeeded}
    assert all(d["success"] for d in body["deliveries"])
    assert admin.get(f"/webhooks/{webhook.id}/deliveries?success=false").json()["total"] == 2


def test_deliveries_list_with_invalid_success_filter_is_400(admin, make_webhook):
    webhook = make_webhook("http://receiver.example/hook")
    response = admin.get(f"/webhooks/{webhook.id}/deliveries?success=perhaps")
    assert response.status_code == 400
    assert response.json()["details"] == {"success": "must be one of: true false"}


def test_deliveries_of_unknown_webhook_is_404(admin):
    response = admin.get("/webhooks/wh-nope/deliveries")
    assert response.json() == {"error": "webhook not found", "details": {}}


def test_deliveries_as_viewer_is_403(viewer, make_webhook):
    webhook = make_webhook("http://receiver.example/hook")
    assert viewer.get(f"/webhooks/{webhook.id}/deliveries").status_code == 403


def test_retry_of_a_failed_delivery_is_200_and_reopens_it(
    admin, make_webhook, django_capture_on_commit_callbacks
):
    webhook = make_webhook("http://receiver.example/hook")
    [delivery] = _deliveries(webhook, 1, "failed")
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin.post(f"/webhooks/deliveries/{delivery.id}/retry")
    assert response.status_code == 200
    assert response.json() == {"status": "retry initiated"}
    delivery.refresh_from_db()
    assert delivery.status == "retrying"
    assert delivery.next_retry_at <= timezone.now()
    assert len(callbacks) == 1  # the attempt is queued once the transaction commits


def test_retry_of_a_succeeded_delivery_is_409(admin, make_webhook):
    [delivery] = _deliveries(make_webhook("http://receiver.example/hook"), 1, "succeeded")
    response = admin.post(f"/webhooks/deliveries/{delivery.id}/retry")
    assert response.status_code == 409
    assert response.json()["error"] == "delivery already succeeded"


def test_retry_for_an_inactive_webhook_is_409(admin, make_webhook):
    webhook = make_webhook("http://receiver.example/hook")
    [delivery] = _deliveries(webhook, 1, "failed")
    Webhook.objects.filter(pk=webhook.pk).update(active=False)
    response = admin.post(f"/webhooks/deliveries/{delivery.id}/retry")
    assert response.status_code == 409
    assert response.json()["error"] == "webhook is not active"


def test_retry_of_a_delivery_being_sent_is_409(admin, make_webhook):
    [delivery] = _deliveries(make_webhook("http://receiver.example/hook"), 1, "retrying")
    Delivery.objects.filter(pk=delivery.pk).update(
        claimed_until=timezone.now() + timezone.timedelta(seconds=30)
    )
    response = admin.post(f"/webhooks/deliveries/{delivery.id}/retry")
    assert response.json()["error"] == "delivery attempt in progress"


@pytest.mark.parametrize("pk", ["delivery-00000000-0000-0000-0000-000000000000", "nope"])
def test_retry_of_unknown_or_malformed_delivery_is_404(admin, pk):
    response = admin.post(f"/webhooks/deliveries/{pk}/retry")
    assert response.status_code == 404
    assert response.json() == {"error": "delivery not found", "details": {}}


def test_retry_as_editor_is_403(editor):
    response = editor.post("/webhooks/deliveries/delivery-x/retry")
    assert response.status_code == 403


def test_retry_without_credentials_is_401(client):
    assert client.post("/webhooks/deliveries/delivery-x/retry").status_code == 401
