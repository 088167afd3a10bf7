"""drf-spectacular glue: our auth schemes and one canonical path per operation."""

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerJWTScheme(OpenApiAuthenticationExtension):
    target_class = "codeai.api.authentication.BearerJWTAuthentication"
    name = "BearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "JWT with `sub`, `exp` and a `roles` claim (viewer, editor, admin)",
        }


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "codeai.api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-API-Key"}


_TRAILING = re.compile(r"/$")


def canonical_paths(endpoints, **kwargs):
    """Every route is also served under /api/v1/ and with a trailing slash; document it once."""
    result = []
    for path, path_regex, method, callback in endpoints:
        if path.startswith("/api/v1/"):
            continue
        if path != "/":
            path = _TRAILING.sub("", path)
        result.append((path, path_regex, method, callback))
    return result
