from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from codeai.api.exceptions import ValidationFailed
from codeai.api.lookups import get_by_prefixed_id_or_404
from codeai.api.views import ApiView

from . import services
from .catalogue import EVENT_TYPES
from .filters import EventFilterSet
from .models import Event
from .serializers import EventSerializer, EventStatsSerializer, EventTypeSerializer


class EventListView(ApiView):
    serializer_class = EventSerializer
    filterset_class = EventFilterSet

    def get_queryset(self):
        return Event.objects.all()

    @extend_schema(operation_id="events_list", responses=EventSerializer(many=True))
    def get(self, request):
        return self.list_response(self.get_queryset(), EventSerializer)


class EventDetailView(ApiView):
    serializer_class = EventSerializer

    @extend_schema(responses=EventSerializer)
    def get(self, request, pk: str):
        event = get_by_prefixed_id_or_404(Event.objects.all(), pk, "evt-", "event")
        return Response(EventSerializer(event).data)


class EventTypeListView(ApiView):
    serializer_class = EventTypeSerializer
    pagination_class = None
    filter_backends: list = []

    @extend_schema(operation_id="events_types_list", responses=EventTypeSerializer(many=True))
    def get(self, request):
        return Response([event_type._asdict() for event_type in EVENT_TYPES])


class EventStatsView(ApiView):
    serializer_class = EventStatsSerializer
    filter_backends: list = []  # the filters are validated here and handed to the service

    @extend_schema(
        operation_id="events_stats",
        responses=EventStatsSerializer,
        parameters=[
            OpenApiParameter(name, str, description=f"Filter as on GET /events ({name})")
            for name in ("type", "source", "start_time", "end_time")
        ],
    )
    def get(self, request):
        filters = EventFilterSet(request.query_params, queryset=Event.objects.none())
        if not filters.is_valid():
            raise ValidationFailed(filters.api_errors())
        return Response(services.event_stats(**filters.form.cleaned_data))
