"""Base view: pagination and filtering shared by every list endpoint."""

from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from .pagination import LimitOffsetEnvelopePagination


class ApiView(GenericAPIView):
    # (No docstring: drf-spectacular would publish it as every operation's description.)
    # Set `list_key` to name the list in the envelope and in the OpenAPI schema.

    list_key = "data"
    pagination_class = LimitOffsetEnvelopePagination

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # drf-spectacular instantiates pagination_class itself, so the key must live on the class.
        paginator = cls.pagination_class
        if paginator is not None and paginator.list_key != cls.list_key:
            cls.pagination_class = type(
                f"{cls.__name__}Pagination", (cls.pagination_class,), {"list_key": cls.list_key}
            )

    def list_response(self, queryset, serializer_class) -> Response:
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response(serializer_class(page, many=True).data)
