from django.contrib import admin, messages

from codeai.api.exceptions import ApiError

from . import services
from .models import WorkflowHistoryEvent, WorkflowRun, WorkflowStep


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class WorkflowStepInline(ReadOnlyInline):
    model = WorkflowStep
    fields = (
        "index",
        "name",
        "kind",
        "group",
        "status",
        "attempts",
        "error",
        "started_at",
        "completed_at",
        "task_id",
    )
    readonly_fields = fields
    ordering = ("index",)


class WorkflowHistoryInline(ReadOnlyInline):
    model = WorkflowHistoryEvent
    fields = ("event_id", "event_type", "timestamp", "attributes")
    readonly_fields = fields
    ordering = ("event_id",)


@admin.register(WorkflowRun)
class WorkflowRunAdmin(admin.ModelAdmin):
    list_display = (
        "workflow_id",
        "id",
        "workflow_type",
        "status",
        "started_at",
        "completed_at",
    )
    list_filter = ("status", "kind", "started_at")
    search_fields = ("workflow_id", "id", "workflow_type")
    readonly_fields = [f.name for f in WorkflowRun._meta.fields]
    inlines = [WorkflowStepInline, WorkflowHistoryInline]
    actions = ["cancel_runs"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # The change page is the detail view; nothing on it can be edited.
        return request.method in ("GET", "HEAD") and super().has_change_permission(request, obj)

    @admin.action(description="Cancel selected running workflows")
    def cancel_runs(self, request, queryset):
        canceled = 0
        for run in queryset.filter(status__in=WorkflowRun.OPEN_STATUSES):
            try:
                services.workflow_cancel(workflow_id=run.workflow_id, reason="canceled in admin")
            except ApiError as exc:
                self.message_user(request, f"{run.workflow_id}: {exc.message}", messages.WARNING)
                continue
            canceled += 1
        self.message_user(request, f"{canceled} workflow run(s) canceled.", messages.SUCCESS)
