import yaml
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from codeai.api.exceptions import ValidationFailed
from codeai.api.lookups import get_by_uuid_or_404
from codeai.api.serializers import validated_body
from codeai.api.views import ApiView

from . import services
from .models import Config
from .serializers import (
    ConfigCreateSerializer,
    ConfigSerializer,
    ConfigUpdateSerializer,
    ConfigValidateSerializer,
    ValidationResultSerializer,
)


def _config(pk: str) -> Config:
    return get_by_uuid_or_404(Config.objects.all(), pk, "config")


class ConfigListView(ApiView):
    serializer_class = ConfigSerializer

    def get_queryset(self):
        return Config.objects.all()

    @extend_schema(operation_id="configs_list", responses=ConfigSerializer(many=True))
    def get(self, request):
        return self.list_response(self.get_queryset(), ConfigSerializer)

    @extend_schema(request=ConfigCreateSerializer, responses={201: ConfigSerializer})
    def post(self, request):
        body = validated_body(ConfigCreateSerializer, request.data)
        config = services.config_create(**body)
        return Response(ConfigSerializer(config).data, status=status.HTTP_201_CREATED)


class ConfigDetailView(ApiView):
    serializer_class = ConfigSerializer

    @extend_schema(responses=ConfigSerializer)
    def get(self, request, pk: str):
        return Response(ConfigSerializer(_config(pk)).data)

    @extend_schema(request=ConfigUpdateSerializer, responses=ConfigSerializer)
    def put(self, request, pk: str):
        config = _config(pk)
        body = validated_body(ConfigUpdateSerializer, request.data)
        config = services.config_update(config=config, **body)
        return Response(ConfigSerializer(config).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: str):
        services.config_delete(config=_config(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConfigValidateView(ApiView):
    serializer_class = ValidationResultSerializer

    @extend_schema(request=ConfigValidateSerializer, responses=ValidationResultSerializer)
    def post(self, request, pk: str):
        config = _config(pk)
        body = validated_body(ConfigValidateSerializer, request.data)
        return Response(services.config_validate(config=config, content=body.get("content")))


class ConfigOpenAPIView(ApiView):
    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["json", "yaml"], description="default json")
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, pk: str):
        config = _config(pk)
        output = request.query_params.get("format", "json")
        if output not in ("json", "yaml"):
            raise ValidationFailed({"format": "must be one of: json yaml"})
        document = services.config_openapi(config=config)
        if output == "yaml":
            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
            return HttpResponse(text, content_type="application/yaml; charset=utf-8")
        return Response(document)
