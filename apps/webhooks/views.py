from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from codeai.api.lookups import get_by_prefixed_id_or_404
from codeai.api.serializers import validated_body
from codeai.api.views import ApiView

from . import services
from .filters import DeliveryFilterSet, WebhookFilterSet
from .models import Delivery, Webhook
from .serializers import (
    DeliverySerializer,
    RetryStatusSerializer,
    WebhookCreatedSerializer,
    WebhookCreateSerializer,
    WebhookSerializer,
    WebhookUpdateSerializer,
)


def _webhook(pk: str) -> Webhook:
    return get_by_prefixed_id_or_404(Webhook.objects.all(), pk, "wh-", "webhook")


class WebhookAdminView(ApiView):
    """Webhook management is for admins only (design §6), reads included: URLs are sensitive."""

    read_role = "admin"
    write_role = "admin"


class WebhookListView(WebhookAdminView):
    serializer_class = WebhookSerializer
    filterset_class = WebhookFilterSet
    list_key = "webhooks"

    def get_queryset(self):
        return Webhook.objects.all()

    @extend_schema(operation_id="webhooks_list", responses=WebhookSerializer(many=True))
    def get(self, request):
        return self.list_response(self.get_queryset(), WebhookSerializer)

    @extend_schema(request=WebhookCreateSerializer, responses={201: WebhookCreatedSerializer})
    def post(self, request):
        body = validated_body(WebhookCreateSerializer, request.data)
        webhook, secret = services.webhook_create(**body)
        return Response({"id": webhook.id, "secret": secret}, status=status.HTTP_201_CREATED)


class WebhookDetailView(WebhookAdminView):
    serializer_class = WebhookSerializer

    @extend_schema(responses=WebhookSerializer)
    def get(self, request, pk: str):
        return Response(WebhookSerializer(_webhook(pk)).data)

    @extend_schema(request=WebhookUpdateSerializer, responses=WebhookSerializer)
    def put(self, request, pk: str):
        webhook = _webhook(pk)
        body = validated_body(WebhookUpdateSerializer, request.data)
        webhook = services.webhook_update(webhook=webhook, **body)
        return Response(WebhookSerializer(webhook).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: str):
        services.webhook_delete(webhook=_webhook(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTestView(WebhookAdminView):
    serializer_class = DeliverySerializer

    @extend_schema(request=None, responses=DeliverySerializer)
    def post(self, request, pk: str):
        delivery = services.webhook_test(webhook=_webhook(pk))
        return Response(DeliverySerializer(delivery).data)


class WebhookDeliveryListView(WebhookAdminView):
    serializer_class = DeliverySerializer
    filterset_class = DeliveryFilterSet
    list_key = "deliveries"

    def get_queryset(self):
        return Delivery.objects.all()

    @extend_schema(operation_id="webhooks_deliveries_list", responses=DeliverySerializer(many=True))
    def get(self, request, pk: str):
        webhook = _webhook(pk)
        return self.list_response(self.get_queryset().filter(webhook=webhook), DeliverySerializer)


class DeliveryRetryView(WebhookAdminView):
    serializer_class = RetryStatusSerializer

    @extend_schema(request=None, responses=RetryStatusSerializer)
    def post(self, request, pk: str):
        delivery = get_by_prefixed_id_or_404(Delivery.objects.all(), pk, "delivery-", "delivery")
        services.delivery_retry(delivery=delivery)
        return Response({"status": "retry initiated"})
