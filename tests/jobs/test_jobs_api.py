"""The /jobs endpoints: status codes, bodies, filters and every validation message."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django_celery_beat.models import PeriodicTask

from apps.events.models import Event
from apps.jobs.models import Job

HANDLERS = (
    "agent.run cleanup deployment.execute echo http.request test.fail test.nap test.record "
    "test.sleep test.unserialisable test.where tests.jobs.handlers.flaky workflow.start"
)
JOB_ID = re.compile(r"^job-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def submit(api, body, path="/jobs"):
    return api.post(path, body, format="json")


def create(api, **body):
    response = submit(api, {"task_type": "echo", **body})
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def in_future(seconds: float = 3600) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


# --- POST /jobs ---------------------------------------------------------------------------------


def test_submit_returns_201_with_only_the_job_id(editor):
    response = submit(editor, {"task_type": "echo", "payload": {"a": 1}})
    assert response.status_code == 201
    assert list(response.json()) == ["id"]
    assert JOB_ID.match(response.json()["id"])


def test_submitted_job_is_pending_with_defaults(editor):
    job = Job.objects.get(pk=create(editor))
    assert job.status == "pending"
    assert job.queue == "default"
    assert job.max_retries == 3
    assert job.timeout is None
    assert job.metadata == {}
    assert job.attempts == 0


def test_submit_stores_every_given_field(editor):
    job_id = create(
        editor,
        payload=["any", "json", 1],
        queue="high-priority",
        max_retries=0,
        timeout="1h30m",
        metadata={"project": "analytics"},
    )
    job = Job.objects.get(pk=job_id)
    assert job.payload == ["any", "json", 1]
    assert (job.queue, job.max_retries, job.timeout) == ("high-priority", 0, 5400)
    assert job.metadata == {"project": "analytics"}


def test_submit_records_a_job_enqueued_event(editor):
    job_id = create(editor)
    event = Event.objects.get(type="job.enqueued")
    assert event.source == "job-scheduler"
    assert event.data["job_id"] == job_id
    assert event.data["status"] == "pending"


@pytest.mark.parametrize("payload", [None, "text", 42, [1, 2], {"nested": {"x": True}}])
def test_submit_accepts_any_json_payload(editor, payload):
    job_id = create(editor, payload=payload)
    assert Job.objects.get(pk=job_id).payload == payload


def test_submit_without_task_type_is_400(editor):
    response = submit(editor, {"payload": {}})
    assert response.status_code == 400
    assert response.json() == {
        "error": "validation failed",
        "details": {"task_type": "is required"},
    }


def test_submit_unknown_task_type_lists_registered_handlers(editor):
    response = submit(editor, {"task_type": "data-processing"})
    assert response.status_code == 400
    assert response.json()["details"] == {"task_type": f"must be one of: {HANDLERS}"}


def test_submit_unknown_queue_lists_configured_queues(editor):
    response = submit(editor, {"task_type": "echo", "queue": "urgent"})
    assert response.status_code == 400
    assert response.json()["details"] == {"queue": "must be one of: default high-priority low"}


@pytest.mark.parametrize("timeout", ["30 minutes", "", "5x", "-5m", 30, "0s", "\u0663\u0660s"])
def test_submit_invalid_timeout_is_400(editor, timeout):
    response = submit(editor, {"task_type": "echo", "timeout": timeout})
    assert response.status_code == 400
    message = (
        "must be a string" if timeout == 30 else "must be a valid duration like 30s, 5m, 1h30m, 2d"
    )
    assert response.json()["details"] == {"timeout": message}


def test_submit_timeout_above_the_maximum_is_400(editor):
    response = submit(editor, {"task_type": "echo", "timeout": "2d"})
    assert response.status_code == 400
    assert response.json()["details"] == {"timeout": "must be at most 5h"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "must be at least 0"),
        (101, "must be at most 100"),
        ("3", "must be an integer"),
        (1.5, "must be an integer"),
        (True, "must be an integer"),
    ],
)
def test_submit_invalid_max_retries_is_400(editor, value, message):
    response = submit(editor, {"task_type": "echo", "max_retries": value})
    assert response.status_code == 400
    assert response.json()["details"] == {"max_retries": message}


def test_submit_metadata_must_be_an_object(editor):
    response = submit(editor, {"task_type": "echo", "metadata": ["x"]})
    assert response.status_code == 400
    assert response.json()["details"] == {"metadata": "must be an object"}


def test_submit_unknown_field_is_400(editor):
    response = submit(editor, {"task_type": "echo", "priority": 5})
    assert response.status_code == 400
    assert response.json()["details"] == {"priority": "unknown field"}


def test_submit_checks_the_handlers_payload(editor):
    response = submit(editor, {"task_type": "http.request", "payload": {"method": "FETCH"}})
    assert response.status_code == 400
    assert response.json()["details"] == {
        "payload.url": "is required",
        "payload.method": "must be one of: GET HEAD POST PUT PATCH DELETE OPTIONS",
    }


def test_submit_payload_must_be_an_object_for_http_request(editor):
    response = submit(editor, {"task_type": "http.request", "payload": "http://x"})
    assert response.status_code == 400
    assert response.json()["details"] == {"payload": "must be an object"}


def test_submit_requires_a_json_body(editor):
    response = editor.post(
        "/jobs", "task_type=echo", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415


def test_submit_needs_the_editor_role(viewer):
    response = submit(viewer, {"task_type": "echo"})
    assert response.status_code == 403
    assert response.json() == {"error": "insufficient permissions", "details": {}}


def test_submit_without_credentials_is_401(client, db):
    response = submit(client, {"task_type": "echo"})
    assert response.status_code == 401


def test_submit_with_an_editor_api_key(api_key_client):
    response = submit(api_key_client("editor"), {"task_type": "echo"})
    assert response.status_code == 201


def test_jobs_are_served_under_api_v1_too(editor):
    response = submit(editor, {"task_type": "echo"}, path="/api/v1/jobs")
    assert response.status_code == 201
    assert editor.get(f"/api/v1/jobs/{response.json()['id']}").status_code == 200


# --- POST /jobs/schedule ------------------------------------------------------------------------


def test_schedule_in_the_future_is_scheduled(editor):
    at = in_future()
    response = submit(editor, {"task_type": "echo", "schedule_at": at}, "/jobs/schedule")
    assert response.status_code == 201
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "scheduled"
    assert job.scheduled_at == datetime.fromisoformat(at)
    assert job.next_run_at == job.scheduled_at
    assert Event.objects.get(type="job.scheduled").data["scheduled_at"] == at


def test_schedule_in_the_past_runs_now(editor):
    response = submit(
        editor, {"task_type": "echo", "schedule_at": "2024-01-20T09:00:00Z"}, "/jobs/schedule"
    )
    assert response.status_code == 201
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "pending"
    assert job.scheduled_at == datetime(2024, 1, 20, 9, tzinfo=UTC)


def test_schedule_accepts_an_offset_and_stores_utc(editor):
    response = submit(
        editor, {"task_type": "echo", "schedule_at": "2999-01-20T11:00:00+02:00"}, "/jobs/schedule"
    )
    job = Job.objects.get(pk=response.json()["id"])
    assert job.scheduled_at == datetime(2999, 1, 20, 9, tzinfo=UTC)


def test_schedule_without_schedule_at_is_400(editor):
    response = submit(editor, {"task_type": "echo"}, "/jobs/schedule")
    assert response.status_code == 400
    assert response.json()["details"] == {"schedule_at": "is required"}


@pytest.mark.parametrize(
    "value", ["tomorrow", "2024-01-20", "2024-01-20T09:00:00", "2024-13-01T00:00:00Z", 1700000000]
)
def test_schedule_invalid_timestamp_is_400(editor, value):
    response = submit(editor, {"task_type": "echo", "schedule_at": value}, "/jobs/schedule")
    assert response.status_code == 400
    assert response.json()["details"] == {"schedule_at": "must be a valid RFC3339 timestamp"}


def test_schedule_validates_the_common_fields_too(editor):
    response = submit(
        editor, {"task_type": "nope", "queue": "x", "schedule_at": in_future()}, "/jobs/schedule"
    )
    assert response.status_code == 400
    assert set(response.json()["details"]) == {"task_type", "queue"}


# --- POST /jobs/recurring -----------------------------------------------------------------------


def test_recurring_creates_a_scheduled_parent_and_its_periodic_task(editor):
    response = submit(
        editor,
        {"task_type": "cleanup", "cron_spec": "0 2 * * *", "timezone": "Europe/Paris"},
        "/jobs/recurring",
    )
    assert response.status_code == 201
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.status, job.cron_spec, job.timezone) == ("scheduled", "0 2 * * *", "Europe/Paris")
    task = PeriodicTask.objects.get(pk=job.periodic_task_id)
    assert task.task == "jobs.fire"
    assert task.args == f'["{job.id}"]'
    assert task.enabled
    assert task.queue == "default"
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month) == ("0", "2", "*")
    assert str(crontab.timezone) == "Europe/Paris"


def test_recurring_next_run_at_is_the_next_slot_in_its_time_zone(editor):
    response = submit(
        editor,
        {"task_type": "echo", "cron_spec": "0 2 * * *", "timezone": "Asia/Tokyo"},
        "/jobs/recurring",
    )
    job_id = response.json()["id"]
    body = editor.get(f"/jobs/{job_id}").json()
    next_run = datetime.fromisoformat(body["next_run_at"].replace("Z", "+00:00"))
    assert (next_run.hour, next_run.minute) == (17, 0)  # 02:00 in Tokyo is 17:00 UTC
    assert timedelta(0) < next_run - datetime.now(UTC) <= timedelta(days=1)


@pytest.mark.parametrize("spec", ["@hourly", "@daily", "@weekly", "@monthly", "@yearly"])
def test_recurring_accepts_macros(editor, spec):
    response = submit(editor, {"task_type": "echo", "cron_spec": spec}, "/jobs/recurring")
    assert response.status_code == 201
    assert Job.objects.get(pk=response.json()["id"]).timezone == "UTC"


@pytest.mark.parametrize(
    "spec", ["", "* * * *", "* * * * * *", "61 * * * *", "0 0 L * *", "@reboot", "every day"]
)
def test_recurring_invalid_cron_is_400(editor, spec):
    response = submit(editor, {"task_type": "echo", "cron_spec": spec}, "/jobs/recurring")
    assert response.status_code == 400
    assert response.json()["details"] == {"cron_spec": "must be a valid cron expression"}


def test_recurring_without_cron_spec_is_400(editor):
    response = submit(editor, {"task_type": "echo"}, "/jobs/recurring")
    assert response.status_code == 400
    assert response.json()["details"] == {"cron_spec": "is required"}


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "utc+2", "../etc/passwd"])
def test_recurring_invalid_timezone_is_400(editor, zone):
    response = submit(
        editor, {"task_type": "echo", "cron_spec": "* * * * *", "timezone": zone}, "/jobs/recurring"
    )
    assert response.status_code == 400
    assert response.json()["details"] == {"timezone": "must be a valid IANA time zone"}


# --- GET /jobs ----------------------------------------------------------------------------------


def test_list_envelope_uses_the_jobs_key_and_real_total(viewer, editor):
    for _ in range(3):
        create(editor)
    response = viewer.get("/jobs?limit=2")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"jobs", "limit", "offset", "total"}
    assert (len(body["jobs"]), body["limit"], body["offset"], body["total"]) == (2, 2, 0, 3)


def test_list_is_newest_first(viewer, editor):
    first, second = create(editor), create(editor)
    assert [job["id"] for job in viewer.get("/jobs").json()["jobs"]] == [second, first]


def test_list_filters_by_status(viewer, editor):
    pending = create(editor)
    cancelled = create(editor)
    editor.delete(f"/jobs/{cancelled}")
    body = viewer.get("/jobs?status=cancelled").json()
    assert [job["id"] for job in body["jobs"]] == [cancelled]
    assert body["total"] == 1
    assert [job["id"] for job in viewer.get("/jobs?status=pending").json()["jobs"]] == [pending]


def test_list_filters_by_task_type(viewer, editor):
    create(editor)
    cleanup = create(editor, task_type="cleanup")
    body = viewer.get("/jobs?task_type=cleanup").json()
    assert [job["id"] for job in body["jobs"]] == [cleanup]


def test_list_filters_by_queue(viewer, editor):
    create(editor)
    low = create(editor, queue="low")
    assert [job["id"] for job in viewer.get("/jobs?queue=low").json()["jobs"]] == [low]


def test_list_filters_by_parent_id(viewer, editor):
    from apps.jobs.services import job_fire_recurring

    parent = submit(editor, {"task_type": "echo", "cron_spec": "* * * * *"}, "/jobs/recurring")
    parent_id = parent.json()["id"]
    create(editor)
    child = job_fire_recurring(job_id=parent_id)
    body = viewer.get(f"/jobs?parent_id={parent_id}").json()
    assert [job["id"] for job in body["jobs"]] == [child.id]
    assert body["jobs"][0]["parent_id"] == parent_id


def test_list_invalid_status_filter_is_400(viewer):
    response = viewer.get("/jobs?status=done")
    assert response.status_code == 400
    assert response.json()["details"] == {
        "status": "must be one of: pending scheduled running retrying completed failed cancelled"
    }


def test_list_invalid_limit_is_400(viewer):
    response = viewer.get("/jobs?limit=-1")
    assert response.status_code == 400
    assert response.json()["details"] == {"limit": "must be a non-negative integer"}


def test_list_needs_credentials(client, db):
    assert client.get("/jobs").status_code == 401


# --- GET /jobs/{id} -----------------------------------------------------------------------------


def test_get_returns_every_field(viewer, editor):
    job_id = create(editor, timeout="1h30m", metadata={"k": "v"}, payload={"x": 1})
    response = viewer.get(f"/jobs/{job_id}")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "id",
        "task_type",
        "payload",
        "queue",
        "max_retries",
        "timeout",
        "metadata",
        "status",
        "attempts",
        "scheduled_at",
        "cron_spec",
        "timezone",
        "parent_id",
        "owner",
        "next_run_at",
        "last_run_at",
        "started_at",
        "completed_at",
        "failed_at",
        "error",
        "result",
        "created_at",
        "updated_at",
    ]
    assert body["id"] == job_id
    assert body["timeout"] == "1h30m"
    assert (body["status"], body["attempts"], body["payload"]) == ("pending", 0, {"x": 1})
    assert body["parent_id"] is None and body["cron_spec"] is None and body["result"] is None
    assert TIMESTAMP.match(body["created_at"]) and TIMESTAMP.match(body["updated_at"])


def test_get_without_timeout_shows_null(viewer, editor):
    assert viewer.get(f"/jobs/{create(editor)}").json()["timeout"] is None


def test_get_scheduled_job_shows_rfc3339_timestamps(viewer, editor):
    response = submit(
        editor, {"task_type": "echo", "schedule_at": "2999-01-20T09:00:00Z"}, "/jobs/schedule"
    )
    body = viewer.get(f"/jobs/{response.json()['id']}").json()
    assert body["scheduled_at"] == "2999-01-20T09:00:00.000000Z"
    assert body["next_run_at"] == "2999-01-20T09:00:00.000000Z"


@pytest.mark.parametrize(
    "job_id", ["job-00000000-0000-0000-0000-000000000000", "nope", "job-123", "550e8400"]
)
def test_get_unknown_or_malformed_id_is_404(viewer, job_id):
    response = viewer.get(f"/jobs/{job_id}")
    assert response.status_code == 404
    assert response.json() == {"error": "job not found", "details": {}}


def test_stats_schedule_and_recurring_paths_are_not_job_ids(viewer):
    assert viewer.get("/jobs/stats").status_code == 200
    assert viewer.get("/jobs/schedule").status_code == 405
    assert viewer.get("/jobs/recurring").status_code == 405


# --- DELETE /jobs/{id} --------------------------------------------------------------------------


def test_delete_cancels_a_pending_job(editor):
    job_id = create(editor)
    response = editor.delete(f"/jobs/{job_id}")
    assert response.status_code == 204
    assert Job.objects.get(pk=job_id).status == "cancelled"
    event = Event.objects.get(type="job.cancelled")
    assert event.data["job_id"] == job_id
    assert event.data["previous_status"] == "pending"


def test_delete_cancels_a_scheduled_job(editor):
    response = submit(editor, {"task_type": "echo", "schedule_at": in_future()}, "/jobs/schedule")
    job_id = response.json()["id"]
    assert editor.delete(f"/jobs/{job_id}").status_code == 204
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.next_run_at) == ("cancelled", None)


def test_delete_recurring_job_removes_its_periodic_task(editor):
    response = submit(editor, {"task_type": "echo", "cron_spec": "* * * * *"}, "/jobs/recurring")
    job = Job.objects.get(pk=response.json()["id"])
    assert editor.delete(f"/jobs/{job.id}").status_code == 204
    assert not PeriodicTask.objects.filter(pk=job.periodic_task_id).exists()
    job.refresh_from_db()
    assert (job.status, job.periodic_task_id) == ("cancelled", None)


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_delete_finished_job_is_409(editor, status):
    job_id = create(editor)
    Job.objects.filter(pk=job_id).update(status=status)
    response = editor.delete(f"/jobs/{job_id}")
    assert response.status_code == 409
    assert response.json() == {"error": "job is already finished", "details": {"status": status}}


def test_delete_unknown_job_is_404(editor):
    response = editor.delete("/jobs/job-00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404


def test_delete_needs_the_editor_role(viewer, editor):
    job_id = create(editor)
    assert viewer.delete(f"/jobs/{job_id}").status_code == 403
    assert Job.objects.get(pk=job_id).status == "pending"


# --- GET /jobs/stats ----------------------------------------------------------------------------


def test_stats_counts_every_configured_queue_by_status(viewer, editor):
    create(editor)
    create(editor)
    cancelled = create(editor, queue="low")
    editor.delete(f"/jobs/{cancelled}")
    Job.objects.create(task_type="echo", queue="low", max_retries=0, status="failed")
    response = viewer.get("/jobs/stats")
    assert response.status_code == 200
    queues = response.json()["queues"]
    assert list(queues) == ["default", "high-priority", "low"]
    counts = {name: {k: v for k, v in q.items() if k != "depth"} for name, q in queues.items()}
    assert counts["default"] == {
        "pending": 2,
        "scheduled": 0,
        "running": 0,
        "retrying": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert counts["low"]["cancelled"] == 1 and counts["low"]["failed"] == 1
    assert set(counts["high-priority"].values()) == {0}


def test_stats_reports_the_brokers_live_queue_depth(viewer, settings):
    import uuid

    from codeai.celery import app

    queue = f"stats-{uuid.uuid4().hex[:8]}"
    settings.CODEAI_QUEUES = ["default", queue]
    try:
        for _ in range(3):
            app.send_task("jobs.run", args=["job-none"], queue=queue)
        depth = viewer.get("/jobs/stats").json()["queues"][queue]["depth"]
    finally:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue)
    assert depth == 3


def test_stats_depth_is_null_when_the_broker_is_unreachable(viewer, settings, monkeypatch):
    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = viewer.get("/jobs/stats")
    assert response.status_code == 200
    assert {queue["depth"] for queue in response.json()["queues"].values()} == {None}
