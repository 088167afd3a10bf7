import hmac

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from codeai.api.exceptions import NotFound

from .checks import READINESS_CHECKS, health_checks, run_check
from .metrics import render_metrics

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


class MetricsView(OpenView):
    """Prometheus scrape target; needs `Authorization: Bearer <CODEAI_METRICS_TOKEN>`."""

    @extend_schema(exclude=True)
    def get(self, request):
        expected = settings.CODEAI_METRICS_TOKEN
        if not expected:
            raise NotFound("metrics (set CODEAI_METRICS_TOKEN to enable them)")
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), expected.encode()):
            return Response(
                {"error": "invalid metrics token", "details": {}},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        body, content_type = render_metrics()
        return HttpResponse(body, content_type=content_type)
