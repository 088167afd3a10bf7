"""Polling for what a worker does asynchronously: the one wait_for of the test suite."""

import time


def wait_for(predicate, *, seconds: float = 30, interval: float = 0.02):
    """Poll until `predicate()` returns something truthy; return it, or fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds}s")
        time.sleep(interval)
