from rest_framework import serializers

from codeai.api.serializers import ApiSerializer, StrictCharField

from .models import Config


class ConfigCreateSerializer(ApiSerializer):
    name = StrictCharField(min_length=1, max_length=255, trim_whitespace=False)
    content = StrictCharField(allow_blank=True, trim_whitespace=False)


class ConfigUpdateSerializer(ApiSerializer):
    name = StrictCharField(min_length=1, max_length=255, trim_whitespace=False, required=False)
    content = StrictCharField(allow_blank=True, trim_whitespace=False, required=False)


class ConfigValidateSerializer(ApiSerializer):
    content = StrictCharField(allow_blank=True, trim_whitespace=False, required=False)


class ConfigSerializer(serializers.ModelSerializer):
    class Meta:
        model = Config
        fields = [
            "id",
            "name",
            "content",
            "ast_json",
            "validation_errors",
            "created_at",
            "updated_at",
        ]


class ValidationDiagnosticSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    column = serializers.IntegerField()
    kind = serializers.CharField()
    message = serializers.CharField()


class ValidationResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = serializers.ListField(child=serializers.CharField())
    diagnostics = ValidationDiagnosticSerializer(many=True)
