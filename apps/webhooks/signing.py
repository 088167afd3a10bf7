"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
GENERATED_KEY_BYTES = 32
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(GENERATED_KEY_BYTES)).decode()


def signing_key(secret: str) -> bytes:
    """`whsec_<base64>` → the decoded bytes; any other secret is used as its raw UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    return secret.encode("utf-8")


def secret_problem(secret: str) -> str | None:
    """Why a client-supplied secret is unusable, or None."""
    if not secret.startswith(SECRET_PREFIX):
        return None
    try:
        key = signing_key(secret)
    except (binascii.Error, ValueError):
        return "must be whsec_ followed by base64"
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        return f"must be whsec_ followed by base64 of {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes"
    return None


def signature(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(*, secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            secret=secret, message_id=message_id, timestamp=timestamp, body=body
        ),
    }
