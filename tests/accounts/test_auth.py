"""Authentication and roles (design §6), through HTTP."""

from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_create, api_key_revoke

from ..conftest import bearer


def _get(headers: dict, url: str = "/deployments"):
    api = APIClient()
    api.credentials(**headers)
    return api.get(url)


def test_no_credential_is_401(client, db):
    response = client.get("/deployments")
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required", "details": {}}


def test_401_carries_www_authenticate(client, db):
    assert client.get("/deployments")["WWW-Authenticate"].startswith("Bearer")


def test_valid_jwt_is_accepted(viewer):
    assert viewer.get("/deployments").status_code == 200


def test_garbage_bearer_token_is_401_invalid_token(db):
    response = _get({"HTTP_AUTHORIZATION": "Bearer not.a.jwt"})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid token", "details": {}}


def test_expired_jwt_is_401_token_has_expired(db):
    response = _get(bearer("admin", ttl=timedelta(seconds=-10)))
    assert response.status_code == 401
    assert response.json() == {"error": "token has expired", "details": {}}


def test_jwt_signed_with_another_key_is_401(db):
    token = jwt.encode({"sub": "x", "roles": ["admin"], "exp": 4102444800}, "wrong-key-" * 4)
    response = _get({"HTTP_AUTHORIZATION": f"Bearer {token}"})
    assert response.json()["error"] == "invalid token"


def test_jwt_without_expiry_is_401(settings, db):
    token = jwt.encode({"sub": "x", "roles": ["admin"]}, settings.CODEAI_JWT_SIGNING_KEY)
    assert _get({"HTTP_AUTHORIZATION": f"Bearer {token}"}).status_code == 401


def test_jwt_with_alg_none_is_401(db):
    token = jwt.encode({"sub": "x", "roles": ["admin"], "exp": 4102444800}, None, algorithm="none")
    assert _get({"HTTP_AUTHORIZATION": f"Bearer {token}"}).status_code == 401


def test_jwt_without_a_known_role_is_403(db):
    response = _get(bearer(None))
    assert response.status_code == 403
    assert response.json() == {"error": "insufficient permissions", "details": {}}


def test_viewer_cannot_write(viewer):
    response = viewer.post("/deployments", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"error": "insufficient permissions", "details": {}}


def test_editor_can_write(editor):
    assert editor.post("/deployments", {"name": "x"}, format="json").status_code == 201


def test_api_key_is_accepted(api_key_client):
    assert api_key_client("viewer").get("/deployments").status_code == 200


def test_api_key_role_is_enforced(api_key_client):
    response = api_key_client("viewer").post("/deployments", {"name": "x"}, format="json")
    assert response.status_code == 403


def test_unknown_api_key_is_401(db):
    response = _get({"HTTP_X_API_KEY": "cai_000000000000_nope"})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid API key", "details": {}}


def test_revoked_api_key_is_401(db):
    api_key, raw_key = api_key_create(name="ci", role="admin")
    api_key_revoke(api_key=api_key)
    assert _get({"HTTP_X_API_KEY": raw_key}).status_code == 401


def test_api_key_is_stored_hashed(db):
    api_key, raw_key = api_key_create(name="ci", role="admin")
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert raw_key not in (stored.key_hash, stored.prefix, stored.name)


def test_api_key_use_records_last_used_at(db):
    api_key, raw_key = api_key_create(name="ci", role="viewer")
    _get({"HTTP_X_API_KEY": raw_key})
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is not None


def test_health_needs_no_credential(client, db):
    assert client.get("/health/live").status_code == 200


def test_issuer_and_audience_are_checked_when_configured(settings, db):
    settings.CODEAI_JWT_ISSUER = "https://idp.example"
    settings.CODEAI_JWT_AUDIENCE = "codeai"
    good = jwt.encode(
        {
            "sub": "a",
            "roles": ["viewer"],
            "exp": 4102444800,
            "iss": "https://idp.example",
            "aud": "codeai",
        },
        settings.CODEAI_JWT_SIGNING_KEY,
    )
    wrong = jwt.encode(
        {
            "sub": "a",
            "roles": ["viewer"],
            "exp": 4102444800,
            "iss": "https://other",
            "aud": "codeai",
        },
        settings.CODEAI_JWT_SIGNING_KEY,
    )
    assert _get({"HTTP_AUTHORIZATION": f"Bearer {good}"}).status_code == 200
    assert _get({"HTTP_AUTHORIZATION": f"Bearer {wrong}"}).status_code == 401


@pytest.fixture
def rsa_keys():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public_pem.decode()


def test_rs256_token_verified_with_configured_public_key(settings, rsa_keys, db):
    private, public_pem = rsa_keys
    settings.CODEAI_JWT_ALGORITHM = "RS256"
    settings.CODEAI_JWT_PUBLIC_KEY = public_pem
    token = jwt.encode({"sub": "svc", "roles": ["viewer"], "exp": 4102444800}, private, "RS256")
    assert _get({"HTTP_AUTHORIZATION": f"Bearer {token}"}).status_code == 200


def test_hs256_token_refused_when_rs256_configured(settings, rsa_keys, db):
    _, public_pem = rsa_keys
    settings.CODEAI_JWT_ALGORITHM = "RS256"
    settings.CODEAI_JWT_PUBLIC_KEY = public_pem
    hs_key = settings.CODEAI_JWT_SIGNING_KEY
    token = jwt.encode({"sub": "svc", "roles": ["admin"], "exp": 4102444800}, hs_key)
    assert _get({"HTTP_AUTHORIZATION": f"Bearer {token}"}).status_code == 401


def test_issue_token_command_mints_a_working_token(capsys, db):
    call_command("issue_token", "--sub", "ops", "--roles", "editor", "--ttl", "30m")
    token = capsys.readouterr().out.strip()
    assert _get({"HTTP_AUTHORIZATION": f"Bearer {token}"}).status_code == 200


def test_create_api_key_command_prints_a_working_key(capsys, db):
    call_command("create_api_key", "--name", "ci", "--role", "viewer")
    raw_key = capsys.readouterr().out.strip()
    assert _get({"HTTP_X_API_KEY": raw_key}).status_code == 200
