"""GET /metrics: Prometheus text, behind a setting-controlled token."""

import pytest


@pytest.fixture
def metrics_token(settings):
    settings.CODEAI_METRICS_TOKEN = "scrape-secret"
    return "scrape-secret"


def test_metrics_are_disabled_without_a_configured_token(client, db, settings):
    settings.CODEAI_METRICS_TOKEN = ""
    response = client.get("/metrics")
    assert response.status_code == 404
    assert response.json()["error"].startswith("metrics")


def test_metrics_need_the_token(client, db, metrics_token):
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert response.status_code == 401
    assert response.json() == {"error": "invalid metrics token", "details": {}}


def test_metrics_count_requests_by_route_and_status(client, viewer, metrics_token):
    viewer.get("/deployments")
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'codeai_http_requests_total{method="GET",route="deployment-list",status="200"}' in text
    assert "codeai_http_request_duration_seconds_bucket" in text


def test_metrics_report_jobs_by_queue_and_status(client, db, metrics_token):
    from apps.jobs.models import Job

    Job.objects.create(task_type="echo", queue="default", status="completed", max_retries=0)
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}").content.decode()
    assert 'codeai_jobs{queue="default",status="completed"} 1.0' in text
    assert "codeai_queue_depth" in text
