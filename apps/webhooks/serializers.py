import re

from rest_framework import serializers

from apps.events.catalogue import EVENT_TYPES
from codeai.api.serializers import (
    ApiSerializer,
    JSONObjectField,
    StrictBooleanField,
    StrictCharField,
)

from .models import Delivery, Webhook
from .signing import secret_problem
from .ssrf import InvalidURLError, parse_http_url

# Headers a subscriber may not set: they carry the signature or frame the body we sign.
RESERVED_HEADERS = frozenset(
    {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
    }
)
MAX_HEADERS = 32
MAX_HEADER_VALUE = 4096
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
_SURROGATE = re.compile("[\ud800-\udfff]")


class WebhookURLField(StrictCharField):
    """An http(s) URL with a host, at most 2048 characters; every failure says the same thing."""

    default_error_messages = {"invalid_url": "must be a valid URL"}

    def __init__(self, **kwargs):
        super().__init__(allow_blank=True, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_url")
        try:
            parse_http_url(data)
        except InvalidURLError:
            self.fail("invalid_url")
        return data


def _event_choices() -> list[str]:
    return [event_type.type for event_type in EVENT_TYPES]


def headers_problems(headers: dict) -> dict[str, str]:
    if len(headers) > MAX_HEADERS:
        return {"": f"must have at most {MAX_HEADERS} entries"}
    problems = {}
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            problems[name] = "must be a valid header name"
        elif name.lower() in RESERVED_HEADERS:
            problems[name] = "is reserved and cannot be set"
        elif not isinstance(value, str):
            problems[name] = "must be a string"
        elif (
            len(value) > MAX_HEADER_VALUE
            or any(ch in value for ch in "\r\n\0")
            or _SURROGATE.search(value)
        ):
            problems[name] = "must be a valid header value"
    return problems


class _WebhookFieldsMixin:
    def validate_events(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def validate_headers(self, value: dict) -> dict:
        problems = headers_problems(value)
        if "" in problems:
            raise serializers.ValidationError(problems[""])
        if problems:
            raise serializers.ValidationError(problems)
        return value

    def validate_secret(self, value: str) -> str:
        problem = secret_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class WebhookCreateSerializer(_WebhookFieldsMixin, ApiSerializer):
    url = WebhookURLField()
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=_event_choices()), required=False, max_length=100
    )
    secret = StrictCharField(min_length=8, max_length=256, required=False, trim_whitespace=False)
    headers = JSONObjectField(required=False)
    metadata = JSONObjectField(required=False)


class WebhookUpdateSerializer(_WebhookFieldsMixin, ApiSerializer):
    url = WebhookURLField(required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=_event_choices()), required=False, max_length=100
    )
    secret = StrictCharField(min_length=8, max_length=256, required=False, trim_whitespace=False)
    headers = JSONObjectField(required=False)
    metadata = JSONObjectField(required=False)
    active = StrictBooleanField(required=False)


class WebhookCreatedSerializer(serializers.Serializer):
    id = serializers.CharField()
    secret = serializers.CharField(help_text="Returned once; never shown again.")


class WebhookSerializer(serializers.ModelSerializer):
    last_delivery = serializers.DateTimeField(source="last_delivery_at", allow_null=True)
    failure_count = serializers.IntegerField(source="consecutive_failures")

    class Meta:
        model = Webhook
        fields = [
            "id",
            "url",
            "events",
            "headers",
            "active",
            "created_at",
            "updated_at",
            "last_delivery",
            "failure_count",
            "metadata",
        ]


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(source="event_ref")
    success = serializers.BooleanField()

    class Meta:
        model = Delivery
        fields = [
            "id",
            "webhook_id",
            "event_id",
            "event_type",
            "url",
            "status_code",
            "duration_ms",
            "attempts",
            "success",
            "delivered_at",
        ]


class RetryStatusSerializer(serializers.Serializer):
    status = serializers.CharField()
