from django.contrib import admin

from . import services
from .models import Deployment, Execution


class ExecutionInline(admin.TabularInline):
    model = Execution
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("id", "status", "exit_code", "started_at", "completed_at")
    readonly_fields = fields
    ordering = ("-started_at",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "status", "config", "created_at", "updated_at")
    list_filter = ("status", "created_at")
    search_fields = ("name", "id")
    readonly_fields = ("id", "created_at", "updated_at")
    inlines = [ExecutionInline]

    def save_model(self, request, obj, form, change):
        # Through the services: unique-name handling and events, as for API writes.
        if change:
            services.deployment_update(
                deployment=obj, name=obj.name, config_id=obj.config_id, status=obj.status
            )
        else:
            obj.pk = services.deployment_create(name=obj.name, config_id=obj.config_id).pk

    def delete_model(self, request, obj):
        services.deployment_delete(deployment=obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        # While an execution runs the service refuses (409); don't offer a delete that would fail.
        if obj is not None and obj.executions.filter(status__in=Execution.OPEN_STATUSES).exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = ("id", "deployment_ref", "status", "exit_code", "started_at", "completed_at")
    list_filter = ("status", "started_at")
    search_fields = ("id", "deployment_ref")
    readonly_fields = [f.name for f in Execution._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
