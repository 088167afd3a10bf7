"""Operator metrics in the Prometheus text format (GET /metrics).

Request counters and latency histograms are recorded per process by the request middleware;
with several gunicorn workers set PROMETHEUS_MULTIPROC_DIR so they are aggregated across
processes. Job, workflow-step and delivery counts, queue depth and the event rate are read from
the database and the broker at scrape time, so they are exact whichever process answers.
"""

import os
from datetime import timedelta

from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

REQUESTS = Counter(
    "codeai_http_requests_total",
    "HTTP requests by route, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "codeai_http_request_duration_seconds",
    "HTTP request latency by route",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def record_request(*, route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(seconds)


class StateCollector:
    """Counts by status straight from the source of truth, at scrape time."""

    def collect(self):
        from apps.events.models import Event
        from apps.jobs.models import Job
        from apps.jobs.services import queue_depths
        from apps.webhooks.models import Delivery
        from apps.workflows.models import WorkflowStep

        jobs = GaugeMetricFamily(
            "codeai_jobs", "Jobs by queue and status", labels=["queue", "status"]
        )
        for row in Job.objects.values("queue", "status").annotate(n=Count("id")):
            jobs.add_metric([row["queue"], row["status"]], row["n"])
        yield jobs

        steps = GaugeMetricFamily(
            "codeai_workflow_steps", "Workflow steps by status", labels=["status"]
        )
        for row in WorkflowStep.objects.values("status").annotate(n=Count("id")):
            steps.add_metric([row["status"]], row["n"])
        yield steps

        deliveries = GaugeMetricFamily(
            "codeai_webhook_deliveries", "Webhook deliveries by outcome", labels=["outcome"]
        )
        for row in Delivery.objects.values("status").annotate(n=Count("id")):
            deliveries.add_metric([row["status"]], row["n"])
        yield deliveries

        depth = GaugeMetricFamily(
            "codeai_queue_depth", "Messages waiting in the broker", labels=["queue"]
        )
        for queue, value in queue_depths(queues=list(settings.CODEAI_QUEUES)).items():
            if value is not None:
                depth.add_metric([queue], value)
        yield depth

        since = timezone.now() - timedelta(minutes=1)
        rate = GaugeMetricFamily(
            "codeai_events_last_minute", "Events recorded in the last minute", labels=["type"]
        )
        for row in (
            Event.objects.filter(timestamp__gte=since).values("type").annotate(n=Count("id"))
        ):
            rate.add_metric([row["type"]], row["n"])
        yield rate


def render_metrics() -> tuple[bytes, str]:
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    state = CollectorRegistry()
    state.register(StateCollector())
    return generate_latest(registry) + generate_latest(state), CONTENT_TYPE_LATEST
