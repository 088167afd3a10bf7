"""Every operation of the published OpenAPI schema enforces authentication and roles."""

import re
import uuid
from datetime import timedelta

import jwt
import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.accounts.services import api_key_create, api_key_revoke

from ..conftest import bearer

ADMIN_ONLY_PREFIXES = ("/webhooks",)
OPEN_PREFIXES = ("/health",)


def _operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )


OPERATIONS = _operations()
PROTECTED = [op for op in OPERATIONS if not op[1].startswith(OPEN_PREFIXES)]
WRITES = [op for op in PROTECTED if op[0] != "GET"]
ADMIN_ONLY = [op for op in PROTECTED if op[1].startswith(ADMIN_ONLY_PREFIXES)]


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


def _call(api: APIClient, method: str, path: str):
    return getattr(api, method.lower())(_url(path), {}, format="json")


def _client(headers: dict) -> APIClient:
    api = APIClient()
    api.credentials(**headers)
    return api


def test_the_schema_lists_operations():
    assert len(PROTECTED) >= 15


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_no_credential_is_401(db, method, path):
    response = _call(APIClient(), method, path)
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required", "details": {}}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_expired_jwt_is_401(db, method, path):
    response = _call(_client(bearer("admin", ttl=timedelta(seconds=-5))), method, path)
    assert response.status_code == 401
    assert response.json()["error"] == "token has expired"


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_wrongly_signed_jwt_is_401(db, method, path):
    token = jwt.encode({"sub": "x", "roles": ["admin"], "exp": 4102444800}, "not-our-key" * 4)
    response = _call(_client({"HTTP_AUTHORIZATION": f"Bearer {token}"}), method, path)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid token"


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_revoked_api_key_is_401(db, method, path):
    api_key, raw_key = api_key_create(name="revoked", role="admin")
    api_key_revoke(api_key=api_key)
    response = _call(_client({"HTTP_X_API_KEY": raw_key}), method, path)
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_viewer_on_a_write_is_403(db, method, path):
    response = _call(_client(bearer("viewer")), method, path)
    assert response.status_code == 403
    assert response.json() == {"error": "insufficient permissions", "details": {}}


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY)
def test_editor_on_webhook_management_is_403(db, method, path):
    assert _call(_client(bearer("editor")), method, path).status_code == 403


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_admin_is_allowed(db, method, path):
    assert _call(_client(bearer("admin")), method, path).status_code not in (401, 403)


@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if op not in PROTECTED])
def test_open_operations_need_no_credential(db, method, path):
    assert _call(APIClient(), method, path).status_code in (200, 503)


def test_schema_and_docs_pages_are_open(db):
    for url in ("/openapi.json", "/openapi.yaml", "/docs", "/redoc"):
        assert APIClient().get(url).status_code == 200, url
