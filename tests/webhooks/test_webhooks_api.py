"""POST/GET/PUT/DELETE /webhooks: shapes, validation, permissions."""

import base64

import pytest

from apps.events.catalogue import EVENT_TYPES
from apps.webhooks.models import Webhook

WEBHOOK_FIELDS = {
    "id",
    "url",
    "events",
    "headers",
    "active",
    "created_at",
    "updated_at",
    "last_delivery",
    "failure_count",
    "metadata",
}
ALL_TYPES = " ".join(t.type for t in EVENT_TYPES)


@pytest.fixture
def hook(admin, private_urls_allowed):
    """A webhook created through the API; returns its id."""
    response = admin.post(
        "/webhooks",
        {"url": "https://receiver.example/hook", "events": ["workflow.completed"]},
        format="json",
    )
    return response.json()["id"]


def test_create_returns_201_with_id_and_generated_secret(admin, private_urls_allowed):
    response = admin.post("/webhooks", {"url": "https://receiver.example/hook"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "secret"}
    assert body["id"].startswith("wh-")
    assert body["secret"].startswith("whsec_")
    assert 24 <= len(base64.b64decode(body["secret"][len("whsec_") :])) <= 32


def test_create_with_a_given_secret_returns_it_and_stores_it(admin, private_urls_allowed):
    response = admin.post(
        "/webhooks",
        {"url": "https://receiver.example/hook", "secret": "your-webhook-secret"},
        format="json",
    )
    assert response.json()["secret"] == "your-webhook-secret"
    assert Webhook.objects.get(pk=response.json()["id"]).secret == "your-webhook-secret"


def test_create_stores_every_field(admin, private_urls_allowed):
    response = admin.post(
        "/webhooks",
        {
            "url": "https://receiver.example/hook",
            "events": ["workflow.completed", "workflow.failed"],
            "headers": {"X-Custom-Header": "custom-value"},
            "metadata": {"project": "my-project"},
        },
        format="json",
    )
    body = admin.get(f"/webhooks/{response.json()['id']}").json()
    assert body["url"] == "https://receiver.example/hook"
    assert body["events"] == ["workflow.completed", "workflow.failed"]
    assert body["headers"] == {"X-Custom-Header": "custom-value"}
    assert body["metadata"] == {"project": "my-project"}
    assert (body["active"], body["failure_count"], body["last_delivery"]) == (True, 0, None)


def test_get_returns_exactly_the_reference_fields_without_the_secret(admin, hook):
    body = admin.get(f"/webhooks/{hook}").json()
    assert set(body) == WEBHOOK_FIELDS
    assert "secret" not in str(body)


def test_created_at_is_rfc3339_utc(admin, hook):
    assert admin.get(f"/webhooks/{hook}").json()["created_at"].endswith("Z")


def test_url_is_required(admin):
    response = admin.post("/webhooks", {}, format="json")
    assert response.status_code == 400
    assert response.json() == {"error": "validation failed", "details": {"url": "is required"}}


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "ftp://receiver.example/hook",
        "file:///etc/passwd",
        "https://",
        "//receiver.example/hook",
        "https://user:pass@receiver.example/hook",
        "https://receiver.example/" + "a" * 2048,
        "",
        42,
    ],
)
def test_invalid_url_is_400_must_be_a_valid_url(admin, url):
    response = admin.post("/webhooks", {"url": url}, format="json")
    assert response.status_code == 400
    assert response.json()["details"] == {"url": "must be a valid URL"}


def test_url_of_exactly_2048_characters_is_accepted(admin, private_urls_allowed):
    url = "https://receiver.example/" + "a" * (2048 - len("https://receiver.example/"))
    assert admin.post("/webhooks", {"url": url}, format="json").status_code == 201


def test_unknown_event_type_is_400_under_its_index(admin):
    response = admin.post(
        "/webhooks",
        {"url": "https://receiver.example/hook", "events": ["workflow.completed", "nope"]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["details"] == {"events.1": f"must be one of: {ALL_TYPES}"}


def test_events_must_be_an_array(admin):
    response = admin.post(
        "/webhooks",
        {"url": "https://receiver.example/hook", "events": "workflow.completed"},
        format="json",
    )
    assert response.json()["details"] == {"events": "must be an array"}


def test_empty_events_means_all_events(admin, private_urls_allowed):
    response = admin.post(
        "/webhooks", {"url": "https://receiver.example/hook", "events": []}, format="json"
    )
    assert Webhook.objects.get(pk=response.json()["id"]).subscribes_to("job.failed")


def test_duplicate_event_types_are_stored_once(admin, private_urls_allowed):
    response = admin.post(
        "/webhooks",
        {"url": "https://receiver.example/hook", "events": ["job.failed", "job.failed"]},
        format="json",
    )
    assert admin.get(f"/webhooks/{response.json()['id']}").json()["events"] == ["job.failed"]


@pytest.mark.parametrize(
    "name",
    [
        "webhook-id",
        "Webhook-Timestamp",
        "WEBHOOK-SIGNATURE",
        "Content-Type",
        "content-length",
        "Host",
    ],
)
def test_reserved_header_is_400_under_its_name(admin, name):
    response = admin.post(
        "/webhooks",
        {"url": "https://receiver.example/hook", "headers": {name: "x"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["details"] == {f"headers.{name}": "is reserved and cannot be set"}


def test_header_value_must_be_a_string(admin):
    response = admin.post(
        "/webhooks",
        {"url": "https://receiver.example/hook", "headers": {"X-Count": 3}},
        format="json",
    )
    assert response.json()["details"] == {"headers.X-Count": "must be a string"}


def test_header_value_with_a_line_break_is_refused(admin):
    response = admin.post(
        "/webhooks",
        {"url": "https://receiver.example/hook", "headers": {"X-A": "a\r\nX-Injected: 1"}},
        format="json",
    )
    assert response.json()["details"] == {"headers.X-A": "must be a valid header value"}


def test_headers_must_be_an_object(admin):
    response = admin.post(
        "/webhooks", {"url": "https://receiver.example/hook", "headers": ["a"]}, format="json"
    )
    assert response.json()["details"] == {"headers": "must be an object"}


def test_malformed_whsec_secret_is_400(admin):
    response = admin.post(
        "/webhooks",
        {"url": "https://receiver.example/hook", "secret": "whsec_not*base64!"},
        format="json",
    )
    assert response.json()["details"] == {"secret": "must be whsec_ followed by base64"}


def test_short_plain_secret_is_400(admin):
    response = admin.post(
        "/webhooks", {"url": "https://receiver.example/hook", "secret": "short"}, format="json"
    )
    assert response.json()["details"] == {"secret": "must be at least 8 characters"}


def test_unknown_field_is_400(admin):
    response = admin.post(
        "/webhooks", {"url": "https://receiver.example/hook", "colour": "red"}, format="json"
    )
    assert response.json()["details"] == {"colour": "unknown field"}


def test_malformed_json_is_400(admin):
    response = admin.post("/webhooks", "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid JSON body", "details": {}}


def test_list_uses_the_webhooks_key_with_totals(admin, make_webhook):
    for index in range(3):
        make_webhook(f"https://receiver.example/{index}")
    body = admin.get("/webhooks?limit=2").json()
    assert set(body) == {"webhooks", "limit", "offset", "total"}
    assert (len(body["webhooks"]), body["limit"], body["offset"], body["total"]) == (2, 2, 0, 3)


def test_list_filters_by_active(admin, make_webhook):
    make_webhook("https://receiver.example/on")
    off = make_webhook("https://receiver.example/off")
    Webhook.objects.filter(pk=off.pk).update(active=False)
    body = admin.get("/webhooks?active=false").json()
    assert [w["id"] for w in body["webhooks"]] == [off.id]
    assert body["total"] == 1
    assert admin.get("/webhooks?active=true").json()["total"] == 1


def test_list_with_invalid_active_filter_is_400(admin):
    response = admin.get("/webhooks?active=maybe")
    assert response.status_code == 400
    assert response.json()["details"] == {"active": "must be one of: true false"}


def test_unknown_webhook_is_404(admin):
    response = admin.get("/webhooks/wh-550e8400-e29b-41d4-a716-446655440001")
    assert response.status_code == 404
    assert response.json() == {"error": "webhook not found", "details": {}}


@pytest.mark.parametrize("pk", ["nope", "wh-nope", "evt-550e8400-e29b-41d4-a716-446655440001"])
def test_malformed_webhook_id_is_404(admin, pk):
    assert admin.get(f"/webhooks/{pk}").json() == {"error": "webhook not found", "details": {}}


def test_put_updates_only_the_given_fields(admin, hook):
    response = admin.put(f"/webhooks/{hook}", {"events": ["job.failed"]}, format="json")
    assert response.status_code == 200
    assert response.json()["events"] == ["job.failed"]
    assert response.json()["url"] == "https://receiver.example/hook"


def test_put_with_an_empty_body_changes_nothing(admin, hook):
    before = admin.get(f"/webhooks/{hook}").json()
    after = admin.put(f"/webhooks/{hook}", {}, format="json").json()
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }


def test_put_can_deactivate(admin, hook):
    assert (
        admin.put(f"/webhooks/{hook}", {"active": False}, format="json").json()["active"] is False
    )


def test_put_reactivating_clears_the_failure_count(admin, hook):
    Webhook.objects.filter(pk=hook).update(active=False, consecutive_failures=10)
    body = admin.put(f"/webhooks/{hook}", {"active": True}, format="json").json()
    assert (body["active"], body["failure_count"]) == (True, 0)


def test_put_can_rotate_the_secret_without_returning_it(admin, hook):
    response = admin.put(f"/webhooks/{hook}", {"secret": "a-new-secret-value"}, format="json")
    assert "secret" not in response.json()
    assert Webhook.objects.get(pk=hook).secret == "a-new-secret-value"


def test_put_validates_like_post(admin, hook):
    response = admin.put(f"/webhooks/{hook}", {"url": "gopher://x", "active": "yes"}, format="json")
    assert response.status_code == 400
    assert response.json()["details"] == {
        "url": "must be a valid URL",
        "active": "must be a boolean",
    }


def test_put_unknown_webhook_is_404(admin):
    response = admin.put("/webhooks/wh-nope", {}, format="json")
    assert response.status_code == 404


def test_delete_is_204_and_removes_it(admin, hook):
    assert admin.delete(f"/webhooks/{hook}").status_code == 204
    assert admin.get(f"/webhooks/{hook}").status_code == 404


def test_delete_unknown_webhook_is_404(admin):
    assert admin.delete("/webhooks/wh-nope").status_code == 404


def test_paths_answer_under_api_v1(admin, hook):
    assert admin.get(f"/api/v1/webhooks/{hook}/").status_code == 200


def test_list_without_credentials_is_401(client):
    response = client.get("/webhooks")
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required", "details": {}}


@pytest.mark.parametrize("role_client", ["viewer", "editor"])
def test_list_below_admin_is_403(request, role_client):
    response = request.getfixturevalue(role_client).get("/webhooks")
    assert response.status_code == 403
    assert response.json() == {"error": "insufficient permissions", "details": {}}


def test_create_as_editor_is_403(editor):
    response = editor.post("/webhooks", {"url": "https://receiver.example/hook"}, format="json")
    assert response.status_code == 403


def test_delete_as_editor_is_403(editor, hook):
    assert editor.delete(f"/webhooks/{hook}").status_code == 403


def test_admin_api_key_can_manage_webhooks(api_key_client, private_urls_allowed):
    client = api_key_client("admin")
    response = client.post("/webhooks", {"url": "https://receiver.example/hook"}, format="json")
    assert response.status_code == 201
