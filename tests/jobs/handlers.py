"""Handlers the tests register through CODEAI_TASK_HANDLERS (imported by workers, too)."""

import threading
import time
from pathlib import Path


def fail(payload, context):
    raise RuntimeError((payload or {}).get("message", "boom"))


def sleep(payload, context):
    time.sleep(payload["seconds"])
    return {"slept": payload["seconds"]}


def nap(payload, context):
    """Sleeps in small steps, checking for cancellation and the deadline between them;
    writes `stopped` to `path` (if given) when told to stop."""
    deadline = time.monotonic() + payload["seconds"]
    while time.monotonic() < deadline:
        try:
            context.check()
        except Exception:
            if payload.get("path"):
                Path(payload["path"]).write_text("stopped")
            raise
        time.sleep(0.02)
    return {"napped": payload["seconds"]}


def record(payload, context):
    """Appends `start <attempt>` before and `end <attempt>` after sleeping `seconds`."""
    path = Path(payload["path"])
    with path.open("a") as f:
        f.write(f"start {context.attempt}\n")
    time.sleep(payload.get("seconds", 0))
    with path.open("a") as f:
        f.write(f"end {context.attempt}\n")
    return {"attempt": context.attempt}


def flaky(payload, context):
    """Fails until attempt `succeed_on`."""
    if context.attempt < payload["succeed_on"]:
        raise RuntimeError(f"attempt {context.attempt} failed")
    return {"attempt": context.attempt}


def unserialisable(payload, context):
    return {"when": object()}


def where(payload, context):
    """Which thread ran the handler: prefork runs it inline, other pools in a helper thread."""
    return {"thread": threading.current_thread().name}
