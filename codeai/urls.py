from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularJSONAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
    SpectacularYAMLAPIView,
)

from codeai.api import schema  # noqa: F401  (registers the auth schemes with drf-spectacular)

API_APPS = [
    "apps.health.urls",
    "apps.configs.urls",
    "apps.deployments.urls",
    "apps.events.urls",
    "apps.webhooks.urls",
    "apps.jobs.urls",
    "apps.workflows.urls",
]

api_patterns = [path("", include(module)) for module in API_APPS]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="schema"),
    path("openapi.yaml", SpectacularYAMLAPIView.as_view(), name="schema-yaml"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api/v1/", include(api_patterns)),
    path("", include(api_patterns)),
]

handler400 = "codeai.api.exceptions.json_bad_request"
handler403 = "codeai.api.exceptions.json_permission_denied"
handler404 = "codeai.api.exceptions.json_not_found"
handler500 = "codeai.api.exceptions.json_server_error"
