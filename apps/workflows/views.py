from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from codeai.api.serializers import validated_body
from codeai.api.views import ApiView

from . import services
from .filters import WorkflowFilterSet
from .models import WorkflowRun
from .serializers import (
    WorkflowCanceledSerializer,
    WorkflowCancelSerializer,
    WorkflowDetailSerializer,
    WorkflowHistorySerializer,
    WorkflowListItemSerializer,
    WorkflowStartedSerializer,
    WorkflowStartSerializer,
)


class WorkflowListView(ApiView):
    serializer_class = WorkflowListItemSerializer
    filterset_class = WorkflowFilterSet
    list_key = "workflows"

    def get_queryset(self):
        # List items show none of the (possibly large) JSON columns.
        return WorkflowRun.objects.defer("input", "output", "metadata", "definition")

    @extend_schema(operation_id="workflows_list", responses=WorkflowListItemSerializer(many=True))
    def get(self, request):
        return self.list_response(self.get_queryset(), WorkflowListItemSerializer)

    @extend_schema(request=WorkflowStartSerializer, responses={202: WorkflowStartedSerializer})
    def post(self, request):
        body = validated_body(WorkflowStartSerializer, request.data)
        run = services.workflow_start(
            workflow_id=body["workflowId"],
            workflow_type=body["workflowType"],
            input=body["input"],
            metadata=body.get("metadata") or {},
        )
        return Response(WorkflowStartedSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class WorkflowDetailView(ApiView):
    serializer_class = WorkflowDetailSerializer
    queryset = WorkflowRun.objects.none()  # names the path parameter's type in the schema

    @extend_schema(responses=WorkflowDetailSerializer)
    def get(self, request, pk: str):
        run = services.workflow_latest_run(workflow_id=pk)
        return Response(WorkflowDetailSerializer(run).data)


class WorkflowCancelView(ApiView):
    serializer_class = WorkflowCanceledSerializer
    queryset = WorkflowRun.objects.none()  # names the path parameter's type in the schema

    @extend_schema(request=WorkflowCancelSerializer, responses=WorkflowCanceledSerializer)
    def post(self, request, pk: str):
        body = validated_body(WorkflowCancelSerializer, request.data)
        run = services.workflow_cancel(workflow_id=pk, reason=body.get("reason") or "")
        return Response(WorkflowCanceledSerializer(run).data)


class WorkflowHistoryView(ApiView):
    serializer_class = WorkflowHistorySerializer
    queryset = WorkflowRun.objects.none()  # names the path parameter's type in the schema

    @extend_schema(
        parameters=[OpenApiParameter("runId", str, description="A past run (default: latest)")],
        responses=WorkflowHistorySerializer,
    )
    def get(self, request, pk: str):
        run = services.workflow_run_for_history(
            workflow_id=pk, run_id=request.query_params.get("runId")
        )
        return Response(WorkflowHistorySerializer(run).data)
