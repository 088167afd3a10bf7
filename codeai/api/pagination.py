"""limit/offset pagination with the real total, in the envelope the reference shows."""

from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from .exceptions import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def parse_page_params(query_params) -> tuple[int, int]:
    """Read limit and offset; a non-integer or negative value is a 400, limit is capped at 100."""
    errors: dict[str, str] = {}
    values = {}
    for name, default in (("limit", DEFAULT_LIMIT), ("offset", 0)):
        raw = query_params.get(name)
        if raw is None or raw == "":
            values[name] = default
            continue
        if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
            errors[name] = "must be a non-negative integer"
            continue
        values[name] = int(raw)
    if not errors and values["limit"] < 1:
        errors["limit"] = "must be at least 1"
    if errors:
        raise ValidationFailed(errors)
    return min(values["limit"], MAX_LIMIT), values["offset"]


class LimitOffsetEnvelopePagination(BasePagination):
    """`{"<list_key>": [...], "limit", "offset", "total"}`; ApiView sets `list_key` per view."""

    list_key = "data"

    def paginate_queryset(self, queryset, request, view=None):
        self.limit, self.offset = parse_page_params(request.query_params)
        self.total = queryset.count()
        return list(queryset[self.offset : self.offset + self.limit])

    def get_paginated_response(self, data):
        return Response(
            {self.list_key: data, "limit": self.limit, "offset": self.offset, "total": self.total}
        )

    def get_paginated_response_schema(self, schema):
        key = self.list_key
        return {
            "type": "object",
            "required": [key, "limit", "offset", "total"],
            "properties": {
                key: schema,
                "limit": {"type": "integer", "example": DEFAULT_LIMIT},
                "offset": {"type": "integer", "example": 0},
                "total": {"type": "integer", "example": 150},
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Items per page (default {DEFAULT_LIMIT}, max {MAX_LIMIT})",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "description": "Items to skip",
                "schema": {"type": "integer", "minimum": 0},
            },
        ]
