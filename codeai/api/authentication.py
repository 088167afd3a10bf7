"""Credentials: `Authorization: Bearer <JWT>` (stateless) or `X-API-Key: <key>`."""

from dataclasses import dataclass, field

from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError

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


class BearerJWTAuthentication(JWTStatelessUserAuthentication):
    """Stateless JWT: no user row; the role comes from the `roles` claim."""

    www_authenticate_realm = "api"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            if parts and parts[0].lower() == "bearer":
                raise exceptions.AuthenticationFailed("invalid token")
            return None
        try:
            token = self.get_validated_token(parts[1].encode())
        except exceptions.AuthenticationFailed as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ExpiredTokenError):
                raise exceptions.AuthenticationFailed("token has expired") from None
            raise exceptions.AuthenticationFailed("invalid token") from None
        except TokenError:
            raise exceptions.AuthenticationFailed("invalid token") from None
        claims = dict(token.payload)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise exceptions.AuthenticationFailed("invalid token")
        principal = Principal(
            name=subject, role=effective_role(claims.get("roles")), kind="jwt", claims=claims
        )
        return principal, token

    def get_validated_token(self, raw_token: bytes):
        from rest_framework_simplejwt.settings import api_settings

        last_error: TokenError | None = None
        for token_class in api_settings.AUTH_TOKEN_CLASSES:
            try:
                return token_class(raw_token)
            except TokenError as exc:
                last_error = exc
        if isinstance(last_error, ExpiredTokenError):
            raise exceptions.AuthenticationFailed("token has expired")
        raise exceptions.AuthenticationFailed("invalid token")


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
