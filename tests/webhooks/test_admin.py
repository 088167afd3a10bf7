"""The Django admin for webhooks and deliveries."""

import pytest
from django.contrib.auth.models import User

from apps.events.services import emit
from apps.webhooks.models import Delivery, Webhook


@pytest.fixture
def staff(client, db):
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def failed_delivery(make_webhook):
    make_webhook("http://receiver.example/hook", secret="admin-secret-value")
    event = emit(type="job.failed", source="t", data={})
    Delivery.objects.filter(event_ref=event.id).update(status="failed")
    return Delivery.objects.get(event_ref=event.id)


def test_webhook_change_page_never_shows_the_secret(staff, failed_delivery):
    response = staff.get(f"/admin/webhooks/webhook/{failed_delivery.webhook_id}/change/")
    assert response.status_code == 200
    assert b"admin-secret-value" not in response.content


def test_webhook_change_page_lists_recent_deliveries(staff, failed_delivery):
    response = staff.get(f"/admin/webhooks/webhook/{failed_delivery.webhook_id}/change/")
    assert failed_delivery.id.encode() in response.content


def test_webhook_added_in_the_admin_gets_a_generated_secret(staff, private_urls_allowed):
    response = staff.post(
        "/admin/webhooks/webhook/add/",
        {
            "url": "http://receiver.example/new",
            "events": "[]",
            "headers": "{}",
            "metadata": "{}",
            "active": "on",
            "deliveries-TOTAL_FORMS": "0",
            "deliveries-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert Webhook.objects.get(url="http://receiver.example/new").secret.startswith("whsec_")


def test_delivery_list_filters_by_success(staff, failed_delivery):
    response = staff.get("/admin/webhooks/delivery/?success=no")
    assert failed_delivery.id.encode() in response.content


def test_delivery_retry_action_reopens_the_delivery(staff, failed_delivery):
    staff.post(
        "/admin/webhooks/delivery/",
        {"action": "retry_deliveries", "_selected_action": [failed_delivery.id]},
    )
    failed_delivery.refresh_from_db()
    assert failed_delivery.status == "retrying"


def test_delivery_change_page_renders_read_only(staff, failed_delivery):
    response = staff.get(f"/admin/webhooks/delivery/{failed_delivery.id}/change/")
    assert response.status_code == 200
    assert b"job.failed" in response.content


def test_admin_refuses_a_private_url_when_the_guard_is_on(staff, private_urls_refused):
    response = staff.post(
        "/admin/webhooks/webhook/add/",
        {
            "url": "http://169.254.169.254/latest",
            "events": "[]",
            "headers": "{}",
            "metadata": "{}",
            "deliveries-TOTAL_FORMS": "0",
            "deliveries-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert b"resolves to a private address" in response.content
    assert not Webhook.objects.exists()


def test_admin_refuses_a_reserved_header(staff, private_urls_allowed):
    response = staff.post(
        "/admin/webhooks/webhook/add/",
        {
            "url": "http://receiver.example/new",
            "events": "[]",
            "headers": '{"Host": "evil"}',
            "metadata": "{}",
            "deliveries-TOTAL_FORMS": "0",
            "deliveries-INITIAL_FORMS": "0",
        },
    )
    assert b"is reserved and cannot be set" in response.content
    assert not Webhook.objects.exists()


def test_reactivating_in_the_admin_clears_the_failure_count(staff, failed_delivery):
    webhook = Webhook.objects.get(pk=failed_delivery.webhook_id)
    Webhook.objects.filter(pk=webhook.pk).update(active=False, consecutive_failures=10)
    staff.post(
        f"/admin/webhooks/webhook/{webhook.pk}/change/",
        {
            "url": webhook.url,
            "events": "[]",
            "headers": "{}",
            "metadata": "{}",
            "active": "on",
            "deliveries-TOTAL_FORMS": "1",
            "deliveries-INITIAL_FORMS": "1",
            "deliveries-0-id": failed_delivery.id,
            "deliveries-0-webhook": webhook.pk,
        },
    )
    webhook.refresh_from_db()
    assert (webhook.active, webhook.consecutive_failures) == (True, 0)
    assert webhook.secret == "admin-secret-value"
