import pytest

from apps.deployments.models import Deployment


@pytest.fixture
def thirty_deployments(db):
    Deployment.objects.bulk_create(Deployment(name=f"d-{i:02}") for i in range(30))


def test_default_page_is_twenty_with_real_total(viewer, thirty_deployments):
    body = viewer.get("/deployments").json()
    assert (len(body["data"]), body["limit"], body["offset"], body["total"]) == (20, 20, 0, 30)


def test_limit_and_offset_select_the_page(viewer, thirty_deployments):
    body = viewer.get("/deployments?limit=10&offset=25").json()
    assert (len(body["data"]), body["limit"], body["offset"], body["total"]) == (5, 10, 25, 30)


def test_limit_is_capped_at_one_hundred(viewer, thirty_deployments):
    assert viewer.get("/deployments?limit=1000").json()["limit"] == 100


def test_offset_past_the_end_gives_an_empty_page(viewer, thirty_deployments):
    body = viewer.get("/deployments?offset=500").json()
    assert body["data"] == [] and body["total"] == 30


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "１"])
def test_bad_limit_is_400(viewer, value):
    response = viewer.get(f"/deployments?limit={value}")
    assert response.status_code == 400
    assert response.json() == {
        "error": "validation failed",
        "details": {"limit": "must be a non-negative integer"},
    }


def test_zero_limit_is_400(viewer):
    response = viewer.get("/deployments?limit=0")
    assert response.json()["details"] == {"limit": "must be at least 1"}


def test_bad_offset_is_400(viewer):
    response = viewer.get("/deployments?offset=-5")
    assert response.status_code == 400
    assert response.json()["details"] == {"offset": "must be a non-negative integer"}
