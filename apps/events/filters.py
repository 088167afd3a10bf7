import re
from datetime import UTC, datetime

import django_filters
from django import forms

from codeai.api.filters import ApiFilterSet

from .models import Event

_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
# An unencoded "+" in a query string arrives as a space: "…T10:00:00 02:00".
_SPACED_OFFSET = re.compile(r"(:\d{2}(?:\.\d+)?) (\d{2}:\d{2})$")


class RFC3339Field(forms.DateTimeField):
    """RFC 3339 date-times only: a date, a time and an explicit offset (`Z` or `±hh:mm`)."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        match = _RFC3339.match(_SPACED_OFFSET.sub(r"\1+\2", str(value).strip()))
        if match is None:
            raise forms.ValidationError("must be a valid RFC3339 timestamp", code="invalid")
        date, time, fraction, offset = match.groups()
        fraction = (fraction or "")[:7]  # Python keeps microseconds
        offset = "+00:00" if offset in ("Z", "z") else offset
        try:
            moment = datetime.fromisoformat(f"{date}T{time}{fraction}{offset}")
        except ValueError:
            raise forms.ValidationError(
                "must be a valid RFC3339 timestamp", code="invalid"
            ) from None
        return moment.astimezone(UTC)


class RFC3339Filter(django_filters.Filter):
    field_class = RFC3339Field


class EventFilterSet(ApiFilterSet):
    """`start_time` is inclusive and `end_time` exclusive, so consecutive windows never overlap."""

    type = django_filters.CharFilter(field_name="type")
    source = django_filters.CharFilter(field_name="source")
    start_time = RFC3339Filter(field_name="timestamp", lookup_expr="gte")
    end_time = RFC3339Filter(field_name="timestamp", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ["type", "source", "start_time", "end_time"]
