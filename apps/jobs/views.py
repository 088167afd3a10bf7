from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from codeai.api.lookups import get_by_prefixed_id_or_404
from codeai.api.serializers import validated_body
from codeai.api.views import ApiView

from . import services
from .filters import JobFilterSet
from .models import Job
from .serializers import (
    JobCreatedSerializer,
    JobRecurringSerializer,
    JobScheduleSerializer,
    JobSerializer,
    JobStatsSerializer,
    JobSubmitSerializer,
)


def _job(pk: str) -> Job:
    return get_by_prefixed_id_or_404(Job.objects.all(), pk, "job-", "job")


def _created(job: Job) -> Response:
    return Response({"id": job.id}, status=status.HTTP_201_CREATED)


class JobListView(ApiView):
    serializer_class = JobSerializer
    filterset_class = JobFilterSet
    list_key = "jobs"

    def get_queryset(self):
        return Job.objects.all()

    @extend_schema(operation_id="jobs_list", responses=JobSerializer(many=True))
    def get(self, request):
        return self.list_response(self.get_queryset(), JobSerializer)

    @extend_schema(request=JobSubmitSerializer, responses={201: JobCreatedSerializer})
    def post(self, request):
        return _created(services.job_create(**validated_body(JobSubmitSerializer, request.data)))


class JobScheduleView(ApiView):
    serializer_class = JobCreatedSerializer

    @extend_schema(request=JobScheduleSerializer, responses={201: JobCreatedSerializer})
    def post(self, request):
        return _created(
            services.job_schedule(**validated_body(JobScheduleSerializer, request.data))
        )


class JobRecurringView(ApiView):
    serializer_class = JobCreatedSerializer

    @extend_schema(request=JobRecurringSerializer, responses={201: JobCreatedSerializer})
    def post(self, request):
        body = validated_body(JobRecurringSerializer, request.data)
        return _created(services.job_create_recurring(**body))


class JobStatsView(ApiView):
    serializer_class = JobStatsSerializer

    @extend_schema(operation_id="jobs_stats", responses=JobStatsSerializer)
    def get(self, request):
        return Response(services.job_stats())


class JobDetailView(ApiView):
    serializer_class = JobSerializer

    @extend_schema(responses=JobSerializer)
    def get(self, request, pk: str):
        return Response(JobSerializer(_job(pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: str):
        services.job_cancel(job=_job(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
