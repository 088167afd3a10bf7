"""Base view: pagination, filtering and the resource name for 404s, shared by every list."""

from rest_framework.generics import GenericAPIView
from rest_framework.response import Response


class ApiView(GenericAPIView):
    list_key = "data"

    @property
    def paginator(self):
        paginator = super().paginator
        if paginator is not None:
            paginator.list_key = self.list_key  # also names the list in the OpenAPI schema
        return paginator

    def list_response(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response(serializer_class(page, many=True).data)
