"""django-filter base: query-string errors in the documented format and messages."""

import django_filters
from django import forms
from django_filters.rest_framework import DjangoFilterBackend

from .exceptions import ValidationFailed


def _message(field: forms.Field, code: str | None, fallback: str) -> str:
    if code == "invalid_choice" and hasattr(field, "choices"):
        values = " ".join(str(value) for value, _ in field.choices if value != "")
        return f"must be one of: {values}"
    if isinstance(field, forms.DateTimeField):
        return "must be a valid RFC3339 timestamp"
    if isinstance(field, forms.NullBooleanField | forms.BooleanField):
        return "must be one of: true false"
    if isinstance(field, forms.IntegerField):
        return "must be an integer"
    return fallback


class ApiFilterSet(django_filters.FilterSet):
    def api_errors(self) -> dict[str, str]:
        details = {}
        for name, errors in self.form.errors.as_data().items():
            field = self.form.fields.get(name)
            first = errors[0]
            text = first.messages[0] if first.messages else "is invalid"
            details[name] = _message(field, first.code, text) if field else text
        return details


class ApiFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            if isinstance(filterset, ApiFilterSet):
                raise ValidationFailed(filterset.api_errors())
            raise ValidationFailed({k: str(v[0]) for k, v in filterset.errors.items()})
        return filterset.qs


class _StrictBooleanWidget(forms.TextInput):
    def value_from_datadict(self, data, files, name):
        return data.get(name)


class _StrictNullBooleanField(forms.NullBooleanField):
    widget = _StrictBooleanWidget

    def to_python(self, value):
        if value in (None, ""):
            return None
        lowered = str(value).lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise forms.ValidationError("must be one of: true false", code="invalid")

    def validate(self, value):
        return None


class BooleanQueryFilter(django_filters.BooleanFilter):
    """`?active=true|false` (also 1/0); anything else is a 400."""

    field_class = _StrictNullBooleanField
