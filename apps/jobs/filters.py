import django_filters

from codeai.api.filters import ApiFilterSet

from .models import Job


class JobFilterSet(ApiFilterSet):
    status = django_filters.ChoiceFilter(choices=Job.Status.choices)
    task_type = django_filters.CharFilter(field_name="task_type")
    queue = django_filters.CharFilter(field_name="queue")
    parent_id = django_filters.CharFilter(field_name="parent_id")

    class Meta:
        model = Job
        fields = ["status", "task_type", "queue", "parent_id"]
