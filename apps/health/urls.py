from codeai.api.routing import api_path

from . import views

urlpatterns = [
    api_path(r"health", views.HealthView.as_view(), "health"),
    api_path(r"health/live", views.LiveView.as_view(), "health-live"),
    api_path(r"health/ready", views.ReadyView.as_view(), "health-ready"),
    api_path(r"metrics", views.MetricsView.as_view(), "metrics"),
]
