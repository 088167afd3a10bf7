from codeai.api.filters import ApiFilterSet, BooleanQueryFilter

from .models import Delivery, Webhook


class WebhookFilterSet(ApiFilterSet):
    active = BooleanQueryFilter(field_name="active")

    class Meta:
        model = Webhook
        fields = ["active"]


class DeliveryFilterSet(ApiFilterSet):
    success = BooleanQueryFilter(method="filter_success")

    class Meta:
        model = Delivery
        fields = ["success"]

    def filter_success(self, queryset, name, value):
        if value is None:
            return queryset
        if value:
            return queryset.filter(status=Delivery.Status.SUCCEEDED)
        return queryset.exclude(status=Delivery.Status.SUCCEEDED)
