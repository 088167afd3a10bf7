from codeai.api.routing import api_path

from . import views

# /events/types and /events/stats come before /events/{id}, which would capture them.
urlpatterns = [
    api_path(r"events", views.EventListView.as_view(), "event-list"),
    api_path(r"events/types", views.EventTypeListView.as_view(), "event-types"),
    api_path(r"events/stats", views.EventStatsView.as_view(), "event-stats"),
    api_path(r"events/(?P<pk>[^/]+)", views.EventDetailView.as_view(), "event-detail"),
]
