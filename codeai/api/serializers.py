"""Request serializers with the reference's exact validation messages and strict JSON types."""

from rest_framework import serializers
from rest_framework.fields import empty

from .exceptions import ValidationFailed


class StrictCharField(serializers.CharField):
    """A JSON string; numbers and booleans are not silently turned into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class JSONObjectField(serializers.JSONField):
    """Any JSON object (a dict), e.g. metadata."""

    default_error_messages = {"not_a_dict": "must be an object"}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict")
        return data


def _messages_for(field: serializers.Field) -> dict[str, str]:
    messages = {"required": "is required", "null": "must not be null"}
    if isinstance(field, serializers.ChoiceField):
        choices = " ".join(str(c) for c in field.choices)
        messages["invalid_choice"] = f"must be one of: {choices}"
    elif isinstance(field, serializers.UUIDField):
        messages["invalid"] = "must be a valid UUID"
    elif isinstance(field, serializers.URLField):
        messages["invalid"] = "must be a valid URL"
    elif isinstance(field, serializers.CharField):
        min_length = getattr(field, "min_length", None)
        max_length = getattr(field, "max_length", None)
        messages["invalid"] = "must be a string"
        messages["blank"] = (
            f"must be at least {min_length} characters" if min_length else "must not be blank"
        )
        messages["null_characters_not_allowed"] = "must not contain NUL characters"
        messages["surrogate_characters_not_allowed"] = "must not contain surrogate characters"
        if min_length:
            messages["min_length"] = f"must be at least {min_length} characters"
        if max_length:
            messages["max_length"] = f"must be at most {max_length} characters"
    elif isinstance(field, serializers.IntegerField):
        messages["invalid"] = "must be an integer"
        messages["max_string_length"] = "must be an integer"
        if field.max_value is not None:
            messages["max_value"] = f"must be at most {field.max_value}"
        if field.min_value is not None:
            messages["min_value"] = f"must be at least {field.min_value}"
    elif isinstance(field, serializers.BooleanField):
        messages["invalid"] = "must be a boolean"
    elif isinstance(field, serializers.DateTimeField):
        messages["invalid"] = "must be a valid RFC3339 timestamp"
        messages["make_aware"] = "must be a valid RFC3339 timestamp"
    elif isinstance(field, serializers.ListField):
        messages["not_a_list"] = "must be an array"
        messages["empty"] = "must not be empty"
        if field.max_length is not None:
            messages["max_length"] = f"must have at most {field.max_length} items"
    elif isinstance(field, serializers.DictField | JSONObjectField):
        messages["not_a_dict"] = "must be an object"
    return messages


def apply_api_messages(field: serializers.Field) -> None:
    field.error_messages.update(_messages_for(field))
    for validator in getattr(field, "validators", []):
        # DRF's length validators carry their own message; use ours.
        code = getattr(validator, "code", None)
        if code in field.error_messages:
            validator.message = field.error_messages[code]
    child = getattr(field, "child", None)
    if isinstance(child, serializers.Field):
        apply_api_messages(child)


class ApiSerializer(serializers.Serializer):
    # Base for request bodies: documented messages, unknown fields rejected. (No docstring:
    # drf-spectacular would publish it as every request body's description.)

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            apply_api_messages(field)
        return fields

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if self.initial_data else []
        if unknown:
            raise serializers.ValidationError({name: "unknown field" for name in unknown})
        return attrs


def validated_body(serializer_class: type[ApiSerializer], data, *, partial: bool = False) -> dict:
    """Validate a request body; raise the documented 400 on any error."""
    serializer = serializer_class(data=data if data is not empty else {}, partial=partial)
    if not serializer.is_valid():
        from .exceptions import flatten_errors

        raise ValidationFailed(flatten_errors(serializer.errors))
    return serializer.validated_data
