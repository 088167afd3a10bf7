"""GET /events, /events/{id}, /events/types, /events/stats."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.events.catalogue import EVENT_TYPES
from apps.events.models import Event

REFERENCE_TYPES = [
    ("workflow.started", "Workflow execution has started", "workflow"),
    ("workflow.completed", "Workflow execution completed successfully", "workflow"),
    ("workflow.failed", "Workflow execution failed", "workflow"),
    ("job.enqueued", "Job has been added to the queue", "job"),
    ("job.started", "Job processing has started", "job"),
    ("job.completed", "Job completed successfully", "job"),
    ("job.failed", "Job processing failed", "job"),
    ("agent.executed", "Agent has executed an action", "agent"),
    ("test.suite.completed", "Test suite execution completed", "test"),
    ("webhook.triggered", "Webhook was triggered", "webhook"),
    ("email.sent", "Email was sent", "notification"),
]
T0 = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)


def _event(type: str, source: str, at: datetime, **data) -> Event:
    return Event.objects.create(type=type, source=source, timestamp=at, data=data)


@pytest.fixture
def timeline(db):
    """Four events an hour apart from 2024-01-15T10:00Z."""
    return [
        _event("workflow.started", "workflow-engine", T0, workflowId="wf-001"),
        _event("workflow.completed", "workflow-engine", T0 + timedelta(hours=1)),
        _event("job.failed", "job-scheduler", T0 + timedelta(hours=2)),
        _event("workflow.started", "workflow-engine", T0 + timedelta(hours=3)),
    ]


def _ids(response) -> list[str]:
    return [event["id"] for event in response.json()["data"]]


def test_list_is_the_paginated_envelope_newest_first(viewer, timeline):
    body = viewer.get("/events").json()
    assert set(body) == {"data", "limit", "offset", "total"}
    assert (body["limit"], body["offset"], body["total"]) == (20, 0, 4)
    assert [e["id"] for e in body["data"]] == [e.id for e in reversed(timeline)]


def test_event_has_the_reference_fields(viewer, timeline):
    event = viewer.get("/events").json()["data"][-1]
    assert event == {
        "id": timeline[0].id,
        "type": "workflow.started",
        "source": "workflow-engine",
        "timestamp": "2024-01-15T10:00:00.000000Z",
        "data": {"workflowId": "wf-001"},
        "metadata": {},
    }


def test_list_pagination_keeps_the_real_total(viewer, timeline):
    body = viewer.get("/events?limit=1&offset=1").json()
    assert ([e["id"] for e in body["data"]], body["total"]) == ([timeline[2].id], 4)


def test_list_filters_by_type(viewer, timeline):
    response = viewer.get("/events?type=workflow.started")
    assert _ids(response) == [timeline[3].id, timeline[0].id]
    assert response.json()["total"] == 2


def test_list_filters_by_source(viewer, timeline):
    assert _ids(viewer.get("/events?source=job-scheduler")) == [timeline[2].id]


def test_start_time_is_inclusive(viewer, timeline):
    response = viewer.get("/events?start_time=2024-01-15T12:00:00Z")
    assert _ids(response) == [timeline[3].id, timeline[2].id]


def test_end_time_is_exclusive(viewer, timeline):
    response = viewer.get("/events?end_time=2024-01-15T11:00:00Z")
    assert _ids(response) == [timeline[0].id]


def test_time_window_with_offsets(viewer, timeline):
    response = viewer.get(
        "/events",
        {"start_time": "2024-01-15T11:00:00+01:00", "end_time": "2024-01-15T07:30:00-04:00"},
    )
    assert _ids(response) == [timeline[1].id, timeline[0].id]


def test_unencoded_plus_in_offset_is_understood(viewer, timeline):
    response = viewer.get("/events?start_time=2024-01-15T14:00:00+02:00")
    assert _ids(response) == [timeline[3].id, timeline[2].id]


def test_filters_combine(viewer, timeline):
    response = viewer.get(
        "/events?type=workflow.started&source=workflow-engine&start_time=2024-01-15T10:30:00Z"
    )
    assert _ids(response) == [timeline[3].id]


@pytest.mark.parametrize(
    "value",
    ["yesterday", "2024-01-15", "2024-01-15T10:00:00", "2024-13-01T00:00:00Z", "1705312800"],
)
def test_invalid_start_time_is_400(viewer, value):
    response = viewer.get("/events", {"start_time": value})
    assert response.status_code == 400
    assert response.json() == {
        "error": "validation failed",
        "details": {"start_time": "must be a valid RFC3339 timestamp"},
    }


def test_invalid_end_time_is_400(viewer):
    response = viewer.get("/events?end_time=soon")
    assert response.json()["details"] == {"end_time": "must be a valid RFC3339 timestamp"}


def test_bad_limit_is_400(viewer):
    assert viewer.get("/events?limit=x").status_code == 400


def test_list_without_credentials_is_401(client):
    response = client.get("/events")
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required", "details": {}}


def test_list_with_an_api_key_works(api_key_client, timeline):
    assert api_key_client("viewer").get("/events").json()["total"] == 4


def test_events_are_read_only(editor):
    response = editor.post("/events", {}, format="json")
    assert response.status_code == 405


def test_detail_returns_the_event(viewer, timeline):
    response = viewer.get(f"/events/{timeline[0].id}")
    assert response.status_code == 200
    assert response.json()["data"] == {"workflowId": "wf-001"}


def test_detail_answers_under_api_v1_with_trailing_slash(viewer, timeline):
    assert viewer.get(f"/api/v1/events/{timeline[0].id}/").status_code == 200


@pytest.mark.parametrize(
    "pk", ["evt-550e8400-e29b-41d4-a716-446655440001", "evt-001", "nope", "wh-x"]
)
def test_unknown_or_malformed_event_is_404(viewer, pk):
    response = viewer.get(f"/events/{pk}")
    assert response.status_code == 404
    assert response.json() == {"error": "event not found", "details": {}}


def test_types_starts_with_the_reference_eleven_exactly(viewer):
    body = viewer.get("/events/types").json()
    assert [(t["type"], t["description"], t["category"]) for t in body[:11]] == REFERENCE_TYPES


def test_types_lists_the_whole_catalogue_as_a_plain_array(viewer):
    body = viewer.get("/events/types").json()
    assert body == [
        {"type": t.type, "description": t.description, "category": t.category} for t in EVENT_TYPES
    ]


def test_types_is_not_captured_by_the_detail_route(viewer):
    assert isinstance(viewer.get("/api/v1/events/types/").json(), list)


def test_types_without_credentials_is_401(client):
    assert client.get("/events/types").status_code == 401


def test_stats_counts_by_type_and_source(viewer, timeline):
    assert viewer.get("/events/stats").json() == {
        "total_events": 4,
        "by_type": {"workflow.started": 2, "workflow.completed": 1, "job.failed": 1},
        "by_source": {"workflow-engine": 3, "job-scheduler": 1},
    }


def test_stats_honour_the_filters(viewer, timeline):
    response = viewer.get("/events/stats?source=workflow-engine&end_time=2024-01-15T12:00:00Z")
    assert response.json() == {
        "total_events": 2,
        "by_type": {"workflow.started": 1, "workflow.completed": 1},
        "by_source": {"workflow-engine": 2},
    }


def test_stats_of_nothing_are_zero(viewer):
    assert viewer.get("/events/stats").json() == {
        "total_events": 0,
        "by_type": {},
        "by_source": {},
    }


def test_stats_with_invalid_time_is_400(viewer):
    response = viewer.get("/events/stats?start_time=never")
    assert response.status_code == 400
    assert response.json()["details"] == {"start_time": "must be a valid RFC3339 timestamp"}


def test_stats_without_credentials_is_401(client):
    assert client.get("/events/stats").status_code == 401
