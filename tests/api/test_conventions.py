"""API conventions shared by every endpoint (design §5), exercised through /deployments."""

import json
import uuid

import pytest


@pytest.mark.parametrize(
    "url", ["/deployments", "/deployments/", "/api/v1/deployments", "/api/v1/deployments/"]
)
def test_list_answers_with_and_without_trailing_slash_and_under_api_v1(viewer, url):
    response = viewer.get(url)
    assert response.status_code == 200
    assert response.json() == {"data": [], "limit": 20, "offset": 0, "total": 0}


def test_every_response_is_json(viewer):
    assert viewer.get("/deployments")["Content-Type"] == "application/json"


def test_request_id_is_echoed(viewer):
    response = viewer.get("/deployments", HTTP_X_REQUEST_ID="trace-123")
    assert response["X-Request-ID"] == "trace-123"


def test_request_id_is_generated_when_absent(viewer):
    generated = viewer.get("/deployments")["X-Request-ID"]
    assert str(uuid.UUID(generated)) == generated


def test_request_id_with_unsafe_characters_is_replaced(viewer):
    response = viewer.get("/deployments", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    uuid.UUID(response["X-Request-ID"])


def test_request_id_is_on_error_responses(client):
    response = client.get("/deployments", HTTP_X_REQUEST_ID="err-1")
    assert response.status_code == 401
    assert response["X-Request-ID"] == "err-1"


def test_unknown_path_is_json_404(viewer):
    response = viewer.get("/no/such/path")
    assert response.status_code == 404
    assert response.json() == {"error": "not found", "details": {"path": "/no/such/path"}}


def test_malformed_id_is_404_not_500(viewer):
    response = viewer.get("/deployments/not-a-uuid")
    assert response.status_code == 404
    assert response.json() == {"error": "deployment not found", "details": {}}


def test_unknown_method_is_405_in_error_format(editor):
    response = editor.patch("/deployments", {}, format="json")
    assert response.status_code == 405
    assert response.json() == {"error": "method not allowed", "details": {"method": "PATCH"}}


def test_malformed_json_is_400_invalid_json_body(editor):
    response = editor.post("/deployments", "{bad", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid JSON body", "details": {}}


def test_json_body_that_is_not_an_object_is_400(editor):
    response = editor.post("/deployments", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "request body must be a JSON object"


def test_nan_in_json_is_rejected(editor):
    response = editor.post("/deployments", '{"name": NaN}', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid JSON body"


def test_deeply_nested_json_is_400_not_500(editor):
    body = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = editor.post("/deployments", body, content_type="application/json")
    assert response.status_code == 400


def test_non_json_content_type_is_415(editor):
    response = editor.post("/deployments", "name=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json() == {
        "error": "unsupported media type: Content-Type must be application/json",
        "details": {},
    }


def test_body_over_one_mebibyte_is_413(editor):
    body = json.dumps({"name": "x" * (1024 * 1024)})
    response = editor.post("/deployments", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "error": "request body too large",
        "details": {"max_bytes": 1048576},
    }


def test_unknown_body_field_is_rejected(editor):
    response = editor.post("/deployments", {"name": "a", "nmae": "b"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"error": "validation failed", "details": {"nmae": "unknown field"}}


def test_nul_byte_in_string_is_400(editor):
    response = editor.post("/deployments", {"name": "a\x00b"}, format="json")
    assert response.status_code == 400
    assert response.json()["details"] == {"name": "must not contain NUL characters"}


def test_an_unreachable_database_is_a_503_with_retry_after(viewer, database_down):
    response = viewer.get("/deployments")
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json() == {
        "error": "service unavailable: the database is not reachable; retry shortly",
        "details": {},
    }
