"""The `workers` and `scheduler` checks /health gains with jobs; /health/ready is unchanged."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.jobs.models import Heartbeat
from apps.jobs.services import scheduler_heartbeat_record


@pytest.fixture(autouse=True)
def short_ping(settings):
    """With no worker running, the workers check waits this long for an answer."""
    settings.CODEAI_HEALTH_CHECK_TIMEOUT_SECONDS = 0.2


@pytest.mark.integration
def test_workers_check_is_healthy_when_a_worker_answers_a_ping(client, live_worker):
    check = client.get("/health").json()["checks"]["workers"]
    assert check["status"] == "healthy"
    assert check["message"].endswith(" answered")


def test_workers_check_is_unhealthy_when_no_worker_answers(client, db):
    response = client.get("/health")
    assert response.status_code == 503
    check = response.json()["checks"]["workers"]
    assert check == {
        "status": "unhealthy",
        "message": "RuntimeError: no worker answered a ping within 0.2s",
        "duration_ms": check["duration_ms"],
    }


def test_scheduler_check_is_unhealthy_before_any_heartbeat(client, db):
    check = client.get("/health").json()["checks"]["scheduler"]
    assert check["status"] == "unhealthy"
    assert "no scheduler heartbeat recorded yet" in check["message"]


def test_scheduler_check_is_healthy_after_a_recent_heartbeat(client, db):
    scheduler_heartbeat_record()
    check = client.get("/health").json()["checks"]["scheduler"]
    assert check["status"] == "healthy"
    assert check["message"].startswith("Heartbeat ")


def test_scheduler_check_is_unhealthy_when_the_heartbeat_is_older_than_two_intervals(
    client, db, settings
):
    settings.CODEAI_SCHEDULER_HEARTBEAT_SECONDS = 10
    Heartbeat.objects.create(name="scheduler", beat_at=timezone.now() - timedelta(seconds=21))
    check = client.get("/health").json()["checks"]["scheduler"]
    assert check["status"] == "unhealthy"
    assert check["message"] == (
        "RuntimeError: last scheduler heartbeat 21s ago (expected every 10s)"
    )


def test_scheduler_heartbeat_is_a_beat_entry_run_by_a_task(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["jobs-scheduler-heartbeat"]
    assert entry["task"] == "jobs.scheduler_heartbeat"
    assert entry["schedule"] == settings.CODEAI_SCHEDULER_HEARTBEAT_SECONDS


@pytest.mark.integration
def test_the_heartbeat_task_records_a_heartbeat_on_a_worker(client, live_worker):
    from tests.jobs.support import wait_for

    live_worker.send_task("jobs.scheduler_heartbeat")
    wait_for(lambda: Heartbeat.objects.filter(name="scheduler").exists())
    assert client.get("/health").json()["checks"]["scheduler"]["status"] == "healthy"


def test_ready_still_checks_only_the_database_and_the_broker(client, db):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"database", "broker"}
