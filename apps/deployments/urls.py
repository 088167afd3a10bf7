from codeai.api.routing import api_path

from . import views

urlpatterns = [
    api_path(r"deployments", views.DeploymentListView.as_view(), "deployment-list"),
    api_path(
        r"deployments/(?P<pk>[^/]+)", views.DeploymentDetailView.as_view(), "deployment-detail"
    ),
    api_path(
        r"deployments/(?P<pk>[^/]+)/execute",
        views.DeploymentExecuteView.as_view(),
        "deployment-execute",
    ),
    api_path(
        r"deployments/(?P<pk>[^/]+)/executions",
        views.DeploymentExecutionListView.as_view(),
        "deployment-executions",
    ),
    api_path(r"executions", views.ExecutionListView.as_view(), "execution-list"),
    api_path(r"executions/(?P<pk>[^/]+)", views.ExecutionDetailView.as_view(), "execution-detail"),
]
