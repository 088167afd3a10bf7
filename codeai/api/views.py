"""Base view: pagination, filtering and the resource name for 404s, shared by every list."""

from rest_framework.generics import GenericAPIView
from rest_framework.response import Response


class ApiView(GenericAPIView):
    list_key = "data"

    def list_response(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response(serializer_class(page, many=True).data)
