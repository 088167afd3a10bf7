from codeai.api.routing import api_path

from . import views

urlpatterns = [
    api_path(r"webhooks", views.WebhookListView.as_view(), "webhook-list"),
    api_path(
        r"webhooks/deliveries/(?P<pk>[^/]+)/retry",
        views.DeliveryRetryView.as_view(),
        "delivery-retry",
    ),
    api_path(r"webhooks/(?P<pk>[^/]+)", views.WebhookDetailView.as_view(), "webhook-detail"),
    api_path(r"webhooks/(?P<pk>[^/]+)/test", views.WebhookTestView.as_view(), "webhook-test"),
    api_path(
        r"webhooks/(?P<pk>[^/]+)/deliveries",
        views.WebhookDeliveryListView.as_view(),
        "webhook-deliveries",
    ),
]
