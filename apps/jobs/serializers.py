import re
from datetime import UTC, datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from codeai.api.durations import format_duration
from codeai.api.serializers import (
    ApiSerializer,
    JSONObjectField,
    StrictCharField,
    StrictIntegerField,
)

from .models import Job
from .validation import (
    MAX_RETRIES_LIMIT,
    cron_error,
    payload_errors,
    queue_error,
    task_type_error,
    timeout_from_duration,
    timezone_error,
)

_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


@extend_schema_field(OpenApiTypes.DATETIME)
class RFC3339Field(serializers.Field):
    """A JSON string holding an RFC 3339 date-time with an explicit offset; UTC inside."""

    default_error_messages = {"invalid": "must be a valid RFC3339 timestamp"}

    def to_internal_value(self, data):
        match = _RFC3339.match(data) if isinstance(data, str) else None
        if match is None:
            self.fail("invalid")
        date, time, fraction, offset = match.groups()
        offset = "+00:00" if offset in ("Z", "z") else offset
        try:
            moment = datetime.fromisoformat(f"{date}T{time}{(fraction or '')[:7]}{offset}")
        except ValueError:
            self.fail("invalid")
        return moment.astimezone(UTC)

    def to_representation(self, value):
        return value.isoformat().replace("+00:00", "Z")


def _check(message: str | None):
    if message:
        raise serializers.ValidationError(message)


class JobSubmitSerializer(ApiSerializer):
    task_type = StrictCharField(allow_blank=True, trim_whitespace=False)
    payload = serializers.JSONField(required=False, allow_null=True)
    queue = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    max_retries = StrictIntegerField(required=False, min_value=0, max_value=MAX_RETRIES_LIMIT)
    timeout = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    metadata = JSONObjectField(required=False)

    def validate_task_type(self, value):
        _check(task_type_error(value))
        return value

    def validate_queue(self, value):
        _check(queue_error(value))
        return value

    def validate_timeout(self, value):
        try:
            return timeout_from_duration(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs):
        attrs = super().validate(attrs)
        errors = payload_errors(attrs["task_type"], attrs.get("payload"))
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class JobScheduleSerializer(JobSubmitSerializer):
    schedule_at = RFC3339Field()


class JobRecurringSerializer(JobSubmitSerializer):
    cron_spec = StrictCharField(allow_blank=True, trim_whitespace=False, max_length=200)
    timezone = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)

    def validate_cron_spec(self, value):
        _check(cron_error(value))
        return value

    def validate_timezone(self, value):
        _check(timezone_error(value))
        return value


class JobCreatedSerializer(serializers.Serializer):
    id = serializers.CharField()


class JobSerializer(serializers.ModelSerializer):
    """The job object. `timeout` is a duration string (null: the default applies)."""

    timeout = serializers.SerializerMethodField()
    cron_spec = serializers.SerializerMethodField()
    timezone = serializers.SerializerMethodField()
    owner = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    parent_id = serializers.CharField(allow_null=True)
    payload = serializers.JSONField(allow_null=True)
    result = serializers.JSONField(allow_null=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "task_type",
            "payload",
            "queue",
            "max_retries",
            "timeout",
            "metadata",
            "status",
            "attempts",
            "scheduled_at",
            "cron_spec",
            "timezone",
            "parent_id",
            "owner",
            "next_run_at",
            "last_run_at",
            "started_at",
            "completed_at",
            "failed_at",
            "error",
            "result",
            "created_at",
            "updated_at",
        ]

    def get_timeout(self, job: Job) -> str | None:
        return format_duration(job.timeout) if job.timeout else None

    def get_cron_spec(self, job: Job) -> str | None:
        return job.cron_spec or None

    def get_timezone(self, job: Job) -> str | None:
        return job.timezone or None

    def get_owner(self, job: Job) -> str | None:
        return job.owner or None

    def get_error(self, job: Job) -> str | None:
        return job.error or None


_COUNTS = {status: serializers.IntegerField() for status in Job.Status.values} | {
    "depth": serializers.IntegerField(allow_null=True)
}
QueueStatsSerializer = type("QueueStatsSerializer", (serializers.Serializer,), dict(_COUNTS))


class JobStatsSerializer(serializers.Serializer):
    queues = serializers.DictField(child=QueueStatsSerializer())
