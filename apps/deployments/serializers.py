from rest_framework import serializers

from codeai.api.serializers import ApiSerializer, JSONObjectField, StrictCharField

from .models import Deployment, Execution


class DeploymentCreateSerializer(ApiSerializer):
    name = StrictCharField(min_length=1, max_length=255, trim_whitespace=False)
    config_id = serializers.UUIDField(required=False, allow_null=True)


class DeploymentUpdateSerializer(ApiSerializer):
    name = StrictCharField(min_length=1, max_length=255, trim_whitespace=False, required=False)
    config_id = serializers.UUIDField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=Deployment.Status.choices, required=False)


class DeploymentExecuteSerializer(ApiSerializer):
    variables = JSONObjectField(required=False)


class DeploymentSerializer(serializers.ModelSerializer):
    config_id = serializers.UUIDField(allow_null=True)

    class Meta:
        model = Deployment
        fields = ["id", "name", "config_id", "status", "created_at", "updated_at"]


class ExecutionSerializer(serializers.ModelSerializer):
    deployment_id = serializers.UUIDField(source="deployment_ref")

    class Meta:
        model = Execution
        fields = [
            "id",
            "deployment_id",
            "command",
            "status",
            "variables",
            "output",
            "exit_code",
            "error",
            "started_at",
            "completed_at",
        ]
