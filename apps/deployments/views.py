from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from codeai.api.lookups import get_by_prefixed_id_or_404, get_by_uuid_or_404
from codeai.api.serializers import validated_body
from codeai.api.views import ApiView

from . import services
from .models import Deployment, Execution
from .serializers import (
    DeploymentCreateSerializer,
    DeploymentExecuteSerializer,
    DeploymentSerializer,
    DeploymentUpdateSerializer,
    ExecutionSerializer,
)


def _deployment(pk: str) -> Deployment:
    return get_by_uuid_or_404(Deployment.objects.all(), pk, "deployment")


class DeploymentListView(ApiView):
    serializer_class = DeploymentSerializer

    def get_queryset(self):
        return Deployment.objects.all()

    @extend_schema(operation_id="deployments_list", responses=DeploymentSerializer(many=True))
    def get(self, request):
        return self.list_response(self.get_queryset(), DeploymentSerializer)

    @extend_schema(request=DeploymentCreateSerializer, responses={201: DeploymentSerializer})
    def post(self, request):
        body = validated_body(DeploymentCreateSerializer, request.data)
        deployment = services.deployment_create(**body)
        return Response(DeploymentSerializer(deployment).data, status=status.HTTP_201_CREATED)


class DeploymentDetailView(ApiView):
    serializer_class = DeploymentSerializer

    @extend_schema(responses=DeploymentSerializer)
    def get(self, request, pk: str):
        return Response(DeploymentSerializer(_deployment(pk)).data)

    @extend_schema(request=DeploymentUpdateSerializer, responses=DeploymentSerializer)
    def put(self, request, pk: str):
        deployment = _deployment(pk)
        body = validated_body(DeploymentUpdateSerializer, request.data)
        deployment = services.deployment_update(deployment=deployment, **body)
        return Response(DeploymentSerializer(deployment).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: str):
        services.deployment_delete(deployment=_deployment(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeploymentExecuteView(ApiView):
    serializer_class = ExecutionSerializer

    @extend_schema(request=DeploymentExecuteSerializer, responses={202: ExecutionSerializer})
    def post(self, request, pk: str):
        deployment = _deployment(pk)
        body = validated_body(DeploymentExecuteSerializer, request.data)
        execution = services.deployment_execute(
            deployment=deployment, variables=body.get("variables") or {}
        )
        return Response(ExecutionSerializer(execution).data, status=status.HTTP_202_ACCEPTED)


class DeploymentExecutionListView(ApiView):
    serializer_class = ExecutionSerializer

    def get_queryset(self):
        return Execution.objects.all()

    @extend_schema(
        operation_id="deployments_executions_list", responses=ExecutionSerializer(many=True)
    )
    def get(self, request, pk: str):
        deployment = _deployment(pk)
        return self.list_response(
            self.get_queryset().filter(deployment_ref=deployment.id), ExecutionSerializer
        )


class ExecutionListView(ApiView):
    serializer_class = ExecutionSerializer

    def get_queryset(self):
        return Execution.objects.all()

    @extend_schema(operation_id="executions_list", responses=ExecutionSerializer(many=True))
    def get(self, request):
        return self.list_response(self.get_queryset(), ExecutionSerializer)


class ExecutionDetailView(ApiView):
    serializer_class = ExecutionSerializer

    @extend_schema(responses=ExecutionSerializer)
    def get(self, request, pk: str):
        execution = get_by_prefixed_id_or_404(Execution.objects.all(), pk, "exec-", "execution")
        return Response(ExecutionSerializer(execution).data)
