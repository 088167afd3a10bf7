"""Hostile or malformed input on every operation: a documented 4xx, never a 500."""

import json
import re
from urllib.parse import quote

import pytest
from rest_framework.test import APIClient

from ..conftest import bearer
from .test_auth_matrix import OPERATIONS, PROTECTED

BODY_OPERATIONS = [op for op in PROTECTED if op[0] in ("POST", "PUT")]
PATH_OPERATIONS = [op for op in PROTECTED if "{" in op[1]]
LIST_OPERATIONS = [op for op in PROTECTED if op[0] == "GET" and "{" not in op[1]]

HOSTILE_IDS = [
    "' OR 1=1 --",
    "../../etc/passwd",
    "%00",
    "é🚀",
    "x" * 5000,
    "1;DROP TABLE configs",
    "job-../../x",
    "00000000-0000-0000-0000-000000000000",
]
HOSTILE_QUERY_VALUES = ["' OR 1=1 --", "%00", "\u202e", "9" * 400, "[]", "{}", "-1", "é🚀"]


@pytest.fixture
def admin_api(db) -> APIClient:
    api = APIClient()
    api.credentials(**bearer("admin"))
    return api


def _fill(path: str, value: str = "00000000-0000-0000-0000-000000000000") -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def _assert_error_format(response, status: int) -> None:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"error", "details"}
    assert isinstance(body["error"], str) and isinstance(body["details"], dict)


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
def test_malformed_json_is_400(admin_api, method, path):
    response = getattr(admin_api, method.lower())(
        _fill(path), '{"a": ', content_type="application/json"
    )
    if response.status_code == 404:  # the resource lookup happens first
        return
    _assert_error_format(response, 400)


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
def test_non_object_json_is_400(admin_api, method, path):
    response = getattr(admin_api, method.lower())(
        _fill(path), "[1, 2, 3]", content_type="application/json"
    )
    if response.status_code == 404:
        return
    _assert_error_format(response, 400)


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
def test_form_encoded_body_is_415(admin_api, method, path):
    response = getattr(admin_api, method.lower())(
        _fill(path), "a=1", content_type="application/x-www-form-urlencoded"
    )
    if response.status_code == 404:
        return
    _assert_error_format(response, 415)


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
def test_body_over_one_mebibyte_is_413(admin_api, method, path):
    body = json.dumps({"x": "y" * (1024 * 1024 + 1)})
    response = getattr(admin_api, method.lower())(
        _fill(path), body, content_type="application/json"
    )
    _assert_error_format(response, 413)


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
def test_deep_json_nesting_is_4xx(admin_api, method, path):
    body = '{"x": ' + "[" * 50_000 + "]" * 50_000 + "}"
    response = getattr(admin_api, method.lower())(
        _fill(path), body, content_type="application/json"
    )
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
def test_wrong_types_in_every_field_are_4xx(admin_api, method, path):
    for junk in (None, 12345, True, [], {}, "x" * 70_000, "\x00", "é🚀"):
        payload = {name: junk for name in _body_fields(method, path)}
        response = getattr(admin_api, method.lower())(_fill(path), payload, format="json")
        assert response.status_code < 500, (junk, response.content[:300])


@pytest.mark.parametrize(("method", "path"), PATH_OPERATIONS)
@pytest.mark.parametrize("hostile", HOSTILE_IDS)
def test_hostile_path_ids_are_404(admin_api, method, path, hostile):
    url = _fill(path, quote(hostile, safe=""))
    response = getattr(admin_api, method.lower())(url, {}, format="json")
    _assert_error_format(response, 404)


@pytest.mark.parametrize(("method", "path"), LIST_OPERATIONS)
@pytest.mark.parametrize("hostile", HOSTILE_QUERY_VALUES)
def test_hostile_filter_values_never_500(admin_api, method, path, hostile):
    names = _query_names(path) | {"limit", "offset"}
    query = "&".join(f"{name}={quote(hostile, safe='')}" for name in sorted(names))
    response = admin_api.get(f"{path}?{query}")
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        _assert_error_format(response, 400)


def _schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


_SCHEMA = _schema()


def _body_fields(method: str, path: str) -> set[str]:
    operation = _SCHEMA["paths"][path][method.lower()]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = content.get("schema", {}).get("$ref", "")
    component = _SCHEMA["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return set(component.get("properties", {})) or {"name"}


def _query_names(path: str) -> set[str]:
    operation = _SCHEMA["paths"][path]["get"]
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


def test_every_operation_is_covered():
    assert {op for op in OPERATIONS} >= set(BODY_OPERATIONS) | set(PATH_OPERATIONS)
