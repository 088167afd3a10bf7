"""Helpers shared by the workflow tests."""

import time

FINAL = ("completed", "failed", "canceled")


def wait_for(predicate, *, seconds: float = 30, interval: float = 0.02):
    """Poll until `predicate()` returns something truthy; return it."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds}s")
        time.sleep(interval)


def wait_finished(api, workflow_id: str, *, seconds: float = 30) -> dict:
    """GET /workflows/{id} until the latest run is closed; return its body."""

    def finished():
        body = api.get(f"/workflows/{workflow_id}").json()
        return body if body.get("status") in FINAL else None

    return wait_for(finished, seconds=seconds)


def history_types(api, workflow_id: str) -> list[str]:
    events = api.get(f"/workflows/{workflow_id}/history").json()["events"]
    return [event["eventType"] for event in events]
