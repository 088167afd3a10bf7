"""URL helpers: every API path answers with and without a trailing slash."""

from django.urls import re_path


def api_path(route: str, view, name: str):
    """`route` is a regex fragment without slashes at either end, e.g. r"configs/(?P<pk>[^/]+)"."""
    return re_path(rf"^{route}/?$", view, name=name)
