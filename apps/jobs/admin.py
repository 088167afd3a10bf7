from django.contrib import admin, messages

from codeai.api.exceptions import Conflict

from . import services
from .models import Heartbeat, Job

READ_ONLY = [field.name for field in Job._meta.fields]


class ChildRunInline(admin.TabularInline):
    """The runs a recurring job's firings created, newest first."""

    model = Job
    fk_name = "parent"
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name = "run"
    verbose_name_plural = "runs"
    fields = ("id", "status", "attempts", "started_at", "completed_at", "failed_at", "error")
    readonly_fields = fields
    ordering = ("-created_at",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "task_type",
        "status",
        "queue",
        "attempts",
        "cron_spec",
        "parent",
        "created_at",
    )
    list_filter = ("status", "queue", "task_type")
    search_fields = ("id", "parent__id", "owner")
    readonly_fields = READ_ONLY
    list_select_related = ("parent",)
    actions = ["cancel_jobs"]

    def get_inlines(self, request, obj):
        return [ChildRunInline] if obj is not None and obj.is_recurring else []

    def has_add_permission(self, request) -> bool:
        return False  # jobs are submitted through the API or the services

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # cancel instead; finished jobs go with retention (cleanup, jobs.prune)

    def has_change_permission(self, request, obj=None) -> bool:
        # A job's page is read-only (state changes go through the services); "change" on the
        # list is what the cancel action requires.
        return obj is None and super().has_change_permission(request)

    @admin.action(description="Cancel selected jobs", permissions=["change"])
    def cancel_jobs(self, request, queryset) -> None:
        cancelled, skipped = 0, 0
        for job in queryset:
            try:
                services.job_cancel(job=job)
            except Conflict:
                skipped += 1
            else:
                cancelled += 1
        self.message_user(request, f"Cancelled {cancelled} job(s).", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"Skipped {skipped} already finished job(s).", messages.WARNING
            )


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "beat_at")
    readonly_fields = ("name", "beat_at")

    def has_add_permission(self, request) -> bool:
        return False
