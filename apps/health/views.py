from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .checks import READINESS_CHECKS, health_checks, run_check

_CheckSerializer = inline_serializer(
    "HealthCheck",
    {
        "status": serializers.ChoiceField(choices=["healthy", "unhealthy"]),
        "message": serializers.CharField(),
        "duration_ms": serializers.FloatField(),
    },
)
_HealthSerializer = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(choices=["healthy", "unhealthy"]),
        "checks": serializers.DictField(child=_CheckSerializer),
    },
)


def _report(checks) -> Response:
    results = {name: run_check(check) for name, check in checks.items()}
    healthy = all(r["status"] == "healthy" for r in results.values())
    body = {"status": "healthy" if healthy else "unhealthy", "checks": results}
    return Response(body, status=200 if healthy else 503)


class OpenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


class HealthView(OpenView):
    @extend_schema(responses={200: _HealthSerializer, 503: _HealthSerializer})
    def get(self, request):
        return _report(health_checks())


class ReadyView(OpenView):
    @extend_schema(responses={200: _HealthSerializer, 503: _HealthSerializer})
    def get(self, request):
        return _report(READINESS_CHECKS)


class LiveView(OpenView):
    @extend_schema(responses={200: inline_serializer("Live", {"status": serializers.CharField()})})
    def get(self, request):
        return Response({"status": "alive"})
