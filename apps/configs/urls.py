from codeai.api.routing import api_path

from . import views

urlpatterns = [
    api_path(r"configs", views.ConfigListView.as_view(), "config-list"),
    api_path(r"configs/(?P<pk>[^/]+)", views.ConfigDetailView.as_view(), "config-detail"),
    api_path(
        r"configs/(?P<pk>[^/]+)/validate", views.ConfigValidateView.as_view(), "config-validate"
    ),
    api_path(r"configs/(?P<pk>[^/]+)/openapi", views.ConfigOpenAPIView.as_view(), "config-openapi"),
]
