"""Roles on every endpoint: viewer reads, editor writes, admin manages webhooks and keys."""

from rest_framework.permissions import SAFE_METHODS, BasePermission


class RolePermission(BasePermission):
    """Views may set `read_role` / `write_role` (defaults viewer / editor)."""

    def has_permission(self, request, view) -> bool:
        principal = request.user
        if principal is None or not getattr(principal, "is_authenticated", False):
            return False
        if request.method in SAFE_METHODS:
            required = getattr(view, "read_role", "viewer")
        else:
            required = getattr(view, "write_role", "editor")
        return principal.has_role(required)
