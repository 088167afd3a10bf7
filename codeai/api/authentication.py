"""Credentials: `Authorization: Bearer <JWT>` (stateless) or `X-API-Key: <key>`."""

from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken

ROLE_LEVELS = {"viewer": 1, "editor": 2, "admin": 3}
ROLES = tuple(ROLE_LEVELS)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a JWT subject or an API key, with its effective role."""

    name: str
    role: str | None
    kind: str
    claims: dict = field(default_factory=dict, compare=False, repr=False)

    is_authenticated = True
    is_anonymous = False

    def has_role(self, required: str) -> bool:
        return ROLE_LEVELS.get(self.role or "", 0) >= ROLE_LEVELS[required]


def effective_role(roles) -> str | None:
    """The highest known role in a `roles` claim (a list or a space-separated string)."""
    if isinstance(roles, str):
        roles = roles.split()
    if not isinstance(roles, list):
        return None
    known = [r for r in roles if isinstance(r, str) and r in ROLE_LEVELS]
    return max(known, key=ROLE_LEVELS.__getitem__, default=None)


@lru_cache(maxsize=8)
def _token_backend(
    algorithm: str,
    signing_key: str,
    public_key: str,
    jwks_url: str,
    issuer: str | None,
    audience: str | None,
    leeway: int,
) -> TokenBackend:
    return TokenBackend(
        algorithm,
        signing_key if algorithm.startswith("HS") else None,
        public_key or None,
        audience,
        issuer,
        jwks_url or None,
        leeway,
    )


def jwt_decode(raw_token: str) -> dict:
    """Verify signature, expiry and (when configured) issuer and audience; return the claims."""
    backend = _token_backend(
        settings.CODEAI_JWT_ALGORITHM,
        settings.CODEAI_JWT_SIGNING_KEY,
        settings.CODEAI_JWT_PUBLIC_KEY,
        settings.CODEAI_JWT_JWKS_URL,
        settings.CODEAI_JWT_ISSUER,
        settings.CODEAI_JWT_AUDIENCE,
        settings.CODEAI_JWT_LEEWAY_SECONDS,
    )
    try:
        claims = backend.decode(raw_token, verify=True)
    except TokenBackendExpiredToken:
        raise exceptions.AuthenticationFailed("token has expired") from None
    except (TokenBackendError, ValueError, TypeError):
        raise exceptions.AuthenticationFailed("invalid token") from None
    if "exp" not in claims or not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise exceptions.AuthenticationFailed("invalid token")
    return claims


class BearerJWTAuthentication(authentication.BaseAuthentication):
    """Stateless JWT (simplejwt's TokenBackend): no user row; the role is the `roles` claim."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        if not parts or parts[0].lower() != "bearer":
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("invalid token")
        claims = jwt_decode(parts[1])
        principal = Principal(
            name=claims["sub"], role=effective_role(claims.get("roles")), kind="jwt", claims=claims
        )
        return principal, parts[1]

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`X-API-Key`: keys are stored hashed; revoked keys are refused."""

    def authenticate(self, request):
        raw = request.META.get("HTTP_X_API_KEY")
        if raw is None:
            return None
        from apps.accounts.services import api_key_authenticate

        api_key = api_key_authenticate(raw_key=raw)
        if api_key is None:
            raise exceptions.AuthenticationFailed("invalid API key")
        return Principal(name=api_key.name, role=api_key.role, kind="api_key"), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
