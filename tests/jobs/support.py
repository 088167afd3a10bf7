"""Helpers shared by the jobs tests."""

import time


def wait_for(predicate, *, seconds: float = 20, interval: float = 0.02):
    """Poll until `predicate()` returns something truthy; return it."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds}s")
        time.sleep(interval)
