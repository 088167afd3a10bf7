import json

from django.contrib import admin
from django.utils.html import format_html

from .catalogue import EVENT_TYPES
from .models import Event


def pretty_json(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True)[:200_000])


class EventTypeFilter(admin.SimpleListFilter):
    """From the catalogue: no SELECT DISTINCT over the whole event log."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request, model_admin):
        return [(event_type.type, event_type.type) for event_type in EVENT_TYPES]

    def queryset(self, request, queryset):
        return queryset.filter(type=self.value()) if self.value() else queryset


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Read-only: events are written by emit() only."""

    list_display = ("id", "type", "source", "timestamp", "dispatched_at")
    list_filter = (EventTypeFilter, "source", "timestamp")
    search_fields = ("id",)
    date_hierarchy = "timestamp"
    show_full_result_count = False  # the event log is large; skip the second COUNT(*)
    fields = (
        "id",
        "type",
        "source",
        "timestamp",
        "dispatched_at",
        "data_pretty",
        "metadata_pretty",
    )
    readonly_fields = fields

    @admin.display(description="data")
    def data_pretty(self, obj: Event):
        return pretty_json(obj.data)

    @admin.display(description="metadata")
    def metadata_pretty(self, obj: Event):
        return pretty_json(obj.metadata)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
