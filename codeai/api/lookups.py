"""Fetch one row by its public id; a malformed id is a 404, never a 500."""

import uuid

from django.db.models import Model, QuerySet

from .exceptions import NotFound


def get_by_uuid_or_404(queryset: QuerySet, pk: str, resource: str) -> Model:
    try:
        key = uuid.UUID(str(pk))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(resource) from None
    try:
        return queryset.get(pk=key)
    except queryset.model.DoesNotExist:
        raise NotFound(resource) from None


def get_by_prefixed_id_or_404(queryset: QuerySet, pk: str, prefix: str, resource: str) -> Model:
    """Ids like `exec-<uuid>`: anything not of that shape cannot exist."""
    if not isinstance(pk, str) or not pk.startswith(prefix):
        raise NotFound(resource)
    try:
        uuid.UUID(pk[len(prefix) :])
    except ValueError:
        raise NotFound(resource) from None
    try:
        return queryset.get(pk=pk)
    except queryset.model.DoesNotExist:
        raise NotFound(resource) from None


def new_prefixed_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4()}"
