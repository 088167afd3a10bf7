"""API keys and development tokens."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import ApiKey

KEY_PREFIX = "cai_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


def api_key_create(*, name: str, role: str) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext key, which is never retrievable again."""
    prefix = secrets.token_hex(6)
    raw_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(name=name, role=role, prefix=prefix, key_hash=_hash(raw_key))
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if not api_key.revoked:
        api_key.revoked = True
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked", "revoked_at"])
    return api_key


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key matching `raw_key`, or None. Constant-time comparison of the hash."""
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > 200:
        return None
    prefix = raw_key[len(KEY_PREFIX) :].split("_", 1)[0]
    api_key = ApiKey.objects.filter(prefix=prefix, revoked=False).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash(raw_key)):
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        # Coarse on purpose: one write a minute per key, not one per request.
        with transaction.atomic():
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key


def token_issue(*, subject: str, roles: list[str], ttl: timedelta) -> str:
    """Mint an HS256/RS256 JWT the API accepts (development and automation)."""
    import jwt

    now = timezone.now()
    payload = {"sub": subject, "roles": roles, "iat": now, "exp": now + ttl}
    if settings.CODEAI_JWT_ISSUER:
        payload["iss"] = settings.CODEAI_JWT_ISSUER
    if settings.CODEAI_JWT_AUDIENCE:
        payload["aud"] = settings.CODEAI_JWT_AUDIENCE
    return jwt.encode(
        payload, settings.CODEAI_JWT_SIGNING_KEY, algorithm=settings.CODEAI_JWT_ALGORITHM
    )
