from codeai.api.routing import api_path

from . import views

urlpatterns = [
    api_path(r"workflows", views.WorkflowListView.as_view(), "workflow-list"),
    api_path(r"workflows/(?P<pk>[^/]+)", views.WorkflowDetailView.as_view(), "workflow-detail"),
    api_path(
        r"workflows/(?P<pk>[^/]+)/cancel",
        views.WorkflowCancelView.as_view(),
        "workflow-cancel",
    ),
    api_path(
        r"workflows/(?P<pk>[^/]+)/history",
        views.WorkflowHistoryView.as_view(),
        "workflow-history",
    ),
]
