import json

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils.html import format_html

from apps.events.catalogue import EVENT_TYPE_NAMES
from codeai.api.exceptions import ApiError
from codeai.api.parsers import json_text_problem

from .models import Delivery, DeliveryAttempt, Webhook
from .serializers import headers_problems
from .services import delivery_retry, webhook_create, webhook_update
from .signing import secret_problem
from .ssrf import UnsafeURLError, check_url

RECENT_DELIVERIES = 20


class WebhookForm(forms.ModelForm):
    """The secret is write-only: blank keeps the current one (or generates one on create)."""

    new_secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the current secret (a new webhook gets a generated one).",
    )

    class Meta:
        model = Webhook
        fields = ("url", "events", "headers", "metadata", "active")

    # The same rules as the API, so the services never see a value they would refuse.
    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            check_url(url, allow_private=settings.CODEAI_WEBHOOK_ALLOW_PRIVATE_URLS)
        except UnsafeURLError as exc:
            raise forms.ValidationError(str(exc)) from None
        return url

    def clean_events(self) -> list:
        events = self.cleaned_data["events"] or []
        if not isinstance(events, list) or not all(e in EVENT_TYPE_NAMES for e in events):
            raise forms.ValidationError("must be a list of event types from GET /events/types")
        return events

    def clean_headers(self) -> dict:
        headers = self.cleaned_data["headers"] or {}
        if not isinstance(headers, dict):
            raise forms.ValidationError("must be an object")
        problems = headers_problems(headers)
        if problems:
            raise forms.ValidationError("; ".join(f"{k}: {v}" for k, v in problems.items()))
        return headers

    def clean_metadata(self) -> dict:
        metadata = self.cleaned_data["metadata"] or {}
        if not isinstance(metadata, dict):
            raise forms.ValidationError("must be an object")
        problem = json_text_problem(metadata)
        if problem:
            raise forms.ValidationError(problem)
        return metadata

    def clean_new_secret(self) -> str:
        secret = self.cleaned_data["new_secret"]
        problem = secret_problem(secret) if secret else None
        if problem:
            raise forms.ValidationError(problem)
        return secret


class RecentDeliveryInline(admin.TabularInline):
    model = Delivery
    verbose_name_plural = f"recent deliveries (latest {RECENT_DELIVERIES})"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("id", "event_type", "status", "attempts", "status_code", "created_at")
    readonly_fields = fields
    ordering = ("-created_at",)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        recent = queryset.order_by("-created_at").values_list("pk", flat=True)[:RECENT_DELIVERIES]
        return queryset.filter(pk__in=list(recent))

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ("id", "url", "active", "consecutive_failures", "last_delivery_at", "created_at")
    list_filter = ("active", "created_at")
    search_fields = ("id", "url")
    readonly_fields = ("id", "consecutive_failures", "last_delivery_at", "created_at", "updated_at")
    fields = (
        "id",
        "url",
        "events",
        "headers",
        "metadata",
        "active",
        "new_secret",
        "consecutive_failures",
        "last_delivery_at",
        "created_at",
        "updated_at",
    )
    inlines = [RecentDeliveryInline]

    def save_model(self, request, obj, form, change):
        # Writes go through the services; the secret is shown once, like the API's 201.
        secret = form.cleaned_data.get("new_secret") or None
        if change:
            # The form already changed `obj`; the service compares against the stored row.
            webhook_update(
                webhook=Webhook.objects.get(pk=obj.pk),
                url=obj.url,
                events=obj.events,
                headers=obj.headers,
                metadata=obj.metadata,
                active=obj.active,
                secret=secret,
            )
            return
        webhook, secret = webhook_create(
            url=obj.url,
            events=obj.events,
            headers=obj.headers,
            metadata=obj.metadata,
            secret=secret,
        )
        obj.pk, obj._state.adding = webhook.pk, False
        messages.warning(request, f"Webhook secret (copy it now, it is not shown again): {secret}")


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "created_at", "status_code", "duration_ms", "error", "response_body")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class SuccessFilter(admin.SimpleListFilter):
    title = "success"
    parameter_name = "success"

    def lookups(self, request, model_admin):
        return (("yes", "Yes"), ("no", "No"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=Delivery.Status.SUCCEEDED)
        if self.value() == "no":
            return queryset.exclude(status=Delivery.Status.SUCCEEDED)
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """Read-only; the "retry" action goes through the same service as the API."""

    list_display = (
        "id",
        "webhook",
        "event_type",
        "status",
        "attempts",
        "status_code",
        "created_at",
    )
    list_filter = (SuccessFilter, "status", "webhook", "created_at")
    search_fields = ("id", "event_ref", "webhook__id", "url")
    list_select_related = ("webhook",)
    fields = (
        "id",
        "webhook",
        "event_ref",
        "event_type",
        "url",
        "status",
        "is_test",
        "attempts",
        "status_code",
        "duration_ms",
        "error",
        "response_body",
        "next_retry_at",
        "delivered_at",
        "created_at",
        "payload_pretty",
    )
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    actions = ["retry_deliveries"]

    @admin.display(description="body (as sent)")
    def payload_pretty(self, obj: Delivery):
        try:
            text = json.dumps(json.loads(obj.payload), indent=2, sort_keys=True)
        except ValueError:
            text = obj.payload
        return format_html("<pre>{}</pre>", text[:200_000])

    @admin.action(description="Retry selected deliveries")
    def retry_deliveries(self, request, queryset):
        retried, refused = 0, []
        for delivery in queryset:
            try:
                delivery_retry(delivery=delivery)
                retried += 1
            except ApiError as exc:
                refused.append(f"{delivery.id}: {exc.message}")
        self.message_user(request, f"Retry initiated for {retried} deliveries.")
        if refused:
            self.message_user(request, "Not retried: " + "; ".join(refused), messages.WARNING)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
