import json

from django.contrib import admin
from django.utils.html import format_html

from .models import Config
from .services import config_create, config_update


@admin.register(Config)
class ConfigAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "valid", "created_at", "updated_at")
    search_fields = ("name", "id", "content")
    list_filter = ("created_at",)
    readonly_fields = ("id", "validation_errors_pretty", "ast_pretty", "created_at", "updated_at")
    fields = ("id", "name", "content", "validation_errors_pretty", "ast_pretty", "created_at")

    @admin.display(boolean=True)
    def valid(self, obj: Config) -> bool:
        return obj.is_valid

    @admin.display(description="validation errors")
    def validation_errors_pretty(self, obj: Config):
        return format_html("<pre>{}</pre>", "\n".join(obj.validation_errors or []) or "none")

    @admin.display(description="AST")
    def ast_pretty(self, obj: Config):
        return format_html("<pre>{}</pre>", json.dumps(obj.ast_json, indent=2)[:200_000])

    def save_model(self, request, obj, form, change):
        # Writes go through the services so the compiler runs and events are recorded.
        if change:
            config_update(config=obj, name=obj.name, content=obj.content)
        else:
            created = config_create(name=obj.name, content=obj.content)
            obj.pk = created.pk
