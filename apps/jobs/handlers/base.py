"""What a handler receives and may raise."""

import threading
import time
from dataclasses import dataclass, field
from typing import Any


class JobError(Exception):
    """A failed attempt with a message meant for the job's `error`; retried if retries remain."""


class PermanentJobError(JobError):
    """A failure no retry can fix (bad payload, missing feature): the job fails at once."""


class JobTimeout(JobError):
    """The attempt ran past the job's timeout."""


@dataclass
class JobContext:
    """The running attempt, passed to every handler next to the payload."""

    job_id: str
    task_type: str
    queue: str
    attempt: int
    max_retries: int
    timeout: float
    metadata: dict[str, Any]
    parent_id: str | None
    owner: str
    started: float = field(default_factory=time.monotonic)
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def deadline(self) -> float:
        """time.monotonic() value at which the attempt times out."""
        return self.started + self.timeout

    def remaining(self) -> float:
        """Seconds left before the attempt times out (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def check(self) -> None:
        """For long-running handlers: stop cooperatively when cancelled or out of time."""
        if self.cancelled.is_set():
            raise PermanentJobError("cancelled")
        if self.remaining() <= 0:
            raise JobTimeout("timed out")
