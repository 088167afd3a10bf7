from django.contrib import admin, messages

from .models import ApiKey
from .services import api_key_create, api_key_revoke


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "role", "prefix", "created_at", "last_used_at", "revoked")
    list_filter = ("role", "revoked")
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked", "revoked_at")
    fields = ("name", "role", "prefix", "created_at", "last_used_at", "revoked", "revoked_at")
    actions = ["revoke_keys"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name", "role"])
            return
        api_key, raw_key = api_key_create(name=obj.name, role=obj.role)
        obj.pk, obj.prefix, obj.key_hash = api_key.pk, api_key.prefix, api_key.key_hash
        obj.created_at = api_key.created_at
        obj._state.adding = False
        messages.warning(request, f"New API key (copy it now, it is not shown again): {raw_key}")

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request, queryset):
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")
