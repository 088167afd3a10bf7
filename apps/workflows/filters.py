import django_filters

from codeai.api.filters import ApiFilterSet

from .models import WorkflowRun

API_STATUSES = ("pending", "running", "completed", "failed", "canceled")


class WorkflowFilterSet(ApiFilterSet):
    workflowType = django_filters.CharFilter(field_name="workflow_type")
    status = django_filters.ChoiceFilter(
        choices=[(status, status) for status in API_STATUSES], method="filter_status"
    )

    class Meta:
        model = WorkflowRun
        fields = ["workflowType", "status"]

    def filter_status(self, queryset, name, value):
        # `failed` in the API covers runs that timed out (the API has no `timed_out`).
        if value == WorkflowRun.Status.FAILED:
            return queryset.filter(
                status__in=[WorkflowRun.Status.FAILED, WorkflowRun.Status.TIMED_OUT]
            )
        return queryset.filter(status=value)
