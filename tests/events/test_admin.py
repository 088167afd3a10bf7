"""The Django admin for events: read-only, pretty-printed."""

import pytest
from django.contrib.auth.models import User

from apps.events.services import emit


@pytest.fixture
def staff(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_event_list_filters_by_type(staff):
    kept = emit(type="job.failed", source="t", data={})
    other = emit(type="job.completed", source="t", data={})
    response = staff.get("/admin/events/event/?type=job.failed")
    assert kept.id.encode() in response.content
    assert other.id.encode() not in response.content


def test_event_page_pretty_prints_data(staff):
    event = emit(type="job.failed", source="t", data={"job_id": "j-1"})
    response = staff.get(f"/admin/events/event/{event.id}/change/")
    assert b'"job_id": "j-1"' in response.content.replace(b"&quot;", b'"')


def test_events_cannot_be_added_in_the_admin(staff):
    assert staff.get("/admin/events/event/add/").status_code == 403
