from codeai.api.routing import api_path

from . import views

# /jobs/stats, /jobs/schedule and /jobs/recurring come before /jobs/{id}, which would capture them.
urlpatterns = [
    api_path(r"jobs", views.JobListView.as_view(), "job-list"),
    api_path(r"jobs/stats", views.JobStatsView.as_view(), "job-stats"),
    api_path(r"jobs/schedule", views.JobScheduleView.as_view(), "job-schedule"),
    api_path(r"jobs/recurring", views.JobRecurringView.as_view(), "job-recurring"),
    api_path(r"jobs/(?P<pk>[^/]+)", views.JobDetailView.as_view(), "job-detail"),
]
