"""Helpers shared by the workflow tests."""

from tests.waiting import wait_for

FINAL = ("completed", "failed", "canceled")


def wait_finished(api, workflow_id: str, *, seconds: float = 30) -> dict:
    """GET /workflows/{id} until the latest run is closed; return its body."""

    def finished():
        body = api.get(f"/workflows/{workflow_id}").json()
        return body if body.get("status") in FINAL else None

    return wait_for(finished, seconds=seconds)


def history_types(api, workflow_id: str) -> list[str]:
    events = api.get(f"/workflows/{workflow_id}/history").json()["events"]
    return [event["eventType"] for event in events]
