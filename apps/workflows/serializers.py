"""Workflow request bodies and responses, in the reference's camelCase."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from codeai.api.serializers import ApiSerializer, JSONObjectField, StrictCharField

from .models import WorkflowHistoryEvent, WorkflowRun
from .services import api_status

WORKFLOW_ID_MESSAGE = "must not contain '/' or control characters"


@extend_schema_field({"type": "object", "additionalProperties": True})
class ObjectField(JSONObjectField):
    """A JSON object (documented as one: the base field's schema is "any value")."""


class WorkflowStartSerializer(ApiSerializer):
    workflowId = StrictCharField(min_length=1, max_length=255, trim_whitespace=False)
    workflowType = StrictCharField(min_length=1, max_length=600, trim_whitespace=False)
    input = ObjectField()
    metadata = ObjectField(required=False)

    def validate_workflowId(self, value: str) -> str:
        # The id is a path segment: /workflows/{id}/cancel must be able to address it.
        if "/" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            raise serializers.ValidationError(WORKFLOW_ID_MESSAGE)
        return value


class WorkflowCancelSerializer(ApiSerializer):
    reason = StrictCharField(required=False, allow_blank=True, max_length=1000)


class WorkflowStartedSerializer(serializers.Serializer):
    workflowId = serializers.CharField(source="workflow_id")
    runId = serializers.CharField(source="id")
    status = serializers.SerializerMethodField()

    def get_status(self, run: WorkflowRun) -> str:
        return api_status(run.status)


class WorkflowListItemSerializer(WorkflowStartedSerializer):
    workflowType = serializers.CharField(source="workflow_type")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    completedAt = serializers.DateTimeField(source="completed_at", allow_null=True)

    class Meta:
        fields = ["workflowId", "workflowType", "runId", "status", "startedAt", "completedAt"]


class WorkflowDetailSerializer(WorkflowListItemSerializer):
    input = serializers.JSONField()
    output = serializers.JSONField()
    error = serializers.SerializerMethodField()
    metadata = serializers.JSONField()

    def get_error(self, run: WorkflowRun) -> str | None:
        return run.error or None


class WorkflowCanceledSerializer(serializers.Serializer):
    workflowId = serializers.CharField(source="workflow_id")
    status = serializers.SerializerMethodField()

    def get_status(self, run: WorkflowRun) -> str:
        return api_status(run.status)


class HistoryEventSerializer(serializers.ModelSerializer):
    eventId = serializers.IntegerField(source="event_id")
    eventType = serializers.CharField(source="event_type")

    class Meta:
        model = WorkflowHistoryEvent
        fields = ["eventId", "eventType", "timestamp", "attributes"]


class WorkflowHistorySerializer(serializers.Serializer):
    workflowId = serializers.CharField(source="workflow_id")
    runId = serializers.CharField(source="id")
    events = serializers.SerializerMethodField()

    @extend_schema_field(HistoryEventSerializer(many=True))
    def get_events(self, run: WorkflowRun) -> list[dict]:
        return HistoryEventSerializer(run.history.order_by("event_id"), many=True).data
