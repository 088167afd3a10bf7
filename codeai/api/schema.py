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


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "details"],
    "properties": {
        "error": {"type": "string", "example": "validation failed"},
        "details": {
            "type": "object",
            "additionalProperties": True,
            "example": {"name": "is required"},
        },
    },
}

_ERROR_DESCRIPTIONS = {
    "400": "Invalid request (validation failed, invalid JSON body, bad query parameter)",
    "401": "Authentication required, invalid token, or token has expired",
    "403": "Insufficient permissions",
    "404": "Not found",
    "409": "Conflict with the resource's current state",
    "413": "Request body too large",
    "415": "Content-Type must be application/json",
}


def _error_response(code: str) -> dict:
    return {
        "description": _ERROR_DESCRIPTIONS[code],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def error_responses(result, generator, request, public):
    """Add the documented error responses every operation can give, in one place."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            codes = []
            if operation.get("security") != [{}] and operation.get("security") != []:
                codes += ["401", "403"]
            if "{" in path:
                codes.append("404")
            if "requestBody" in operation or operation.get("parameters"):
                codes.append("400")
            if "requestBody" in operation:
                codes += ["413", "415"]
            if method in {"post", "put", "delete"}:
                codes.append("409")
            for code in codes:
                responses.setdefault(code, _error_response(code))
    return result


_DB_INTEGER_BOUNDS = {
    32767,
    2147483647,
    9223372036854775807,
    -32768,
    -2147483648,
    -9223372036854775808,
}


def backend_independent_integers(result, generator, request, public):
    """Drop integer bounds that only mirror the database's column range.

    Django derives them from the connection (32-bit on PostgreSQL, 64-bit on SQLite), so without
    this the document would differ by backend. Bounds we set on purpose are smaller.
    """

    def walk(node):
        if isinstance(node, dict):
            if node.get("maximum") in _DB_INTEGER_BOUNDS:
                del node["maximum"]
                if node.get("format") == "int64":
                    del node["format"]
            if node.get("minimum") in _DB_INTEGER_BOUNDS:
                del node["minimum"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result.get("components", {}))
    return result
