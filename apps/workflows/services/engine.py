"""The run state machine: history, scheduling, advancing and closing runs.

Every function here works on a run read by `_read` (under its lock in `_run_locked`, or for a
step's completion without it, see `_finish_unlocked` in steps.py) and only records changes;
`_flush` writes them all at once.
"""

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.events.services import emit_batch
from codeai.api.durations import format_duration
from codeai.db import fetch_sets, instance_from_row, select_columns, write_together

from ..models import WorkflowHistoryEvent, WorkflowRun, WorkflowStep
from .output import _build_output, _duration_ms

logger = logging.getLogger(__name__)

SOURCE = "workflow-engine"
History = WorkflowHistoryEvent.Type
RunStatus = WorkflowRun.Status
StepStatus = WorkflowStep.Status
IN_FLIGHT = (StepStatus.SCHEDULED, StepStatus.RUNNING)


def api_status(status: str) -> str:
    """The API's vocabulary has no `timed_out`: a timed-out run is `failed` (error says why)."""
    return RunStatus.FAILED if status == RunStatus.TIMED_OUT else status


# --- selectors -------------------------------------------------------------------------------


# --- history and bookkeeping -----------------------------------------------------------------


def _record(
    run: WorkflowRun, event_type: str, *, at: datetime | None = None, **attributes: Any
) -> None:
    """Append one history event (written by `_flush_history`); the caller holds the run's lock."""
    run.last_event_id += 1
    pending = run.__dict__.setdefault("_pending_history", [])
    pending.append(
        WorkflowHistoryEvent(
            run=run,
            event_id=run.last_event_id,
            event_type=event_type,
            timestamp=at or timezone.now(),
            attributes=attributes,
        )
    )


def _record_started(run: WorkflowRun, step: WorkflowStep) -> None:
    """The attempt's ActivityTaskStarted, written when the attempt ends (as Temporal does), with
    the time it started: claiming a step then needs no lock on the run."""
    if step.__dict__.get("_started_recorded") == step.attempts:
        return
    step.__dict__["_started_recorded"] = step.attempts
    _record(
        run,
        History.ACTIVITY_TASK_STARTED,
        at=step.attempt_started_at,
        stepName=step.name,
        attempt=step.attempts,
    )


def _save(run: WorkflowRun, row: WorkflowRun | WorkflowStep, *fields: str) -> None:
    """Mark fields of the run or one of its steps changed; `_flush` writes them."""
    pending = run.__dict__.setdefault("_pending_saves", {})
    key = (type(row), row.pk)
    changed = pending[key][1] if key in pending else set()
    pending[key] = (row, changed | set(fields))


def _emit(run: WorkflowRun, *, type: str, data: dict[str, Any]) -> None:
    """An event of the run, written by `_flush` with the rest of the transaction's changes."""
    run.__dict__.setdefault("_pending_events", []).append(
        {"type": type, "source": SOURCE, "data": data, "metadata": run.metadata}
    )


def _after_commit(run: WorkflowRun, callback: Callable[[], None]) -> None:
    """Call `callback` (a message to send) once what the transaction changed is committed."""
    run.__dict__.setdefault("_after_commit", []).append(callback)


class NeedsLock(Exception):
    """A change that cannot be written without the run's lock (see `_flush`)."""


def _flush(run: WorkflowRun, *, expected_event_id: int | None = None) -> bool:
    """Write what the transaction changed: rows, history and events, in one statement on
    PostgreSQL (codeai.db.write_together). Events go last, so on commit the messages of the
    steps just scheduled are published before any event's deliveries.

    `expected_event_id` (see `_finish_unlocked` in steps.py): write only if the run's
    `last_event_id` still is that; returns whether it wrote. Raises NeedsLock, writing nothing,
    if an event has a subscriber (emit() writes its deliveries in a transaction).
    """
    history = run.__dict__.pop("_pending_history", [])
    if history or expected_event_id is not None:
        _save(run, run, "last_event_id")
    saves = list(run.__dict__.pop("_pending_saves", {}).values())
    callbacks = run.__dict__.pop("_after_commit", [])
    events = emit_batch(
        run.__dict__.pop("_pending_events", []), only_unsubscribed=expected_event_id is not None
    )
    if events is None:
        raise NeedsLock()
    guard = None if expected_event_id is None else (run, "last_event_id", expected_event_id)
    if not write_together(updates=saves, inserts=[*history, *events], guard=guard):
        return False
    for callback in callbacks:
        transaction.on_commit(callback)
    return True


@contextmanager
def _run_locked(run_id: str) -> Iterator[WorkflowRun | None]:
    """A transaction holding the run's row lock, with the run and its steps read in one query
    (`_steps` returns them); what it changed is written at the end (`_flush`)."""
    with transaction.atomic():
        run = _read(run_id, lock=True)
        yield run
        if run is not None:
            _flush(run)


def _read(run_id: str, *, lock: bool) -> WorkflowRun | None:
    """The run, with its steps (`_steps` returns them): one round trip on PostgreSQL."""
    return _run_from_rows(*fetch_sets(_read_statements(run_id, lock=lock)))


def _read_statements(run_id: str, *, lock: bool) -> list[tuple[str, list]]:
    """The run's row, then its steps' rows (the run first: see `_finish_unlocked`)."""
    run_table, step_table = WorkflowRun._meta.db_table, WorkflowStep._meta.db_table
    run_sql = f"SELECT {select_columns(WorkflowRun, run_table)} FROM {run_table} WHERE id = %s"
    if lock and connection.features.has_select_for_update:
        run_sql += " FOR UPDATE"
    steps_sql = (
        f"SELECT {select_columns(WorkflowStep, step_table)} FROM {step_table}"
        f" WHERE run_id = %s ORDER BY {connection.ops.quote_name('index')}"
    )
    return [(run_sql, [run_id]), (steps_sql, [run_id])]


def _run_from_rows(run_rows: list[tuple], step_rows: list[tuple]) -> WorkflowRun | None:
    if not run_rows:
        return None
    run = instance_from_row(WorkflowRun, run_rows[0])
    run.__dict__["_steps"] = [instance_from_row(WorkflowStep, row) for row in step_rows]
    return run


def _steps(run: WorkflowRun) -> list[WorkflowStep]:
    """The run's steps in order: those `_run_locked` read, or a query."""
    if "_steps" in run.__dict__:
        return run.__dict__["_steps"]
    return list(WorkflowStep.objects.filter(run_id=run.pk).order_by("index"))


def duration_text(seconds: float | None) -> str | None:
    """`1h30m` like the API's durations, or `300ms` for what is not whole seconds."""
    if seconds is None:
        return None
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    return format_duration(seconds)


def _summary(run: WorkflowRun) -> dict[str, Any]:
    return {"workflowId": run.workflow_id, "runId": run.id, "workflowType": run.workflow_type}


def _max_attempts(step: WorkflowStep) -> int:
    return int(step.retry_policy.get("maximumAttempts") or 1)


# --- scheduling --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Enqueue:
    """Send a step's message, once the transaction that scheduled the step is committed (an
    `_after_commit` callback; eager dispatch removes it, see `Carrier` in steps.py)."""

    run_id: str
    step_id: int
    task_id: str
    countdown: float
    timeout: float

    def __call__(self) -> None:
        from ..tasks import workflow_step_task

        # Prefork workers enforce these limits; every pool also gets the engine's own deadline.
        # The message may go on to run the run's next steps itself, for up to the eager budget.
        budget = max(settings.CODEAI_WORKFLOW_EAGER_SECONDS, 0)
        try:
            workflow_step_task.apply_async(
                args=[self.run_id, self.step_id],
                task_id=self.task_id,
                countdown=self.countdown or None,
                queue=settings.CODEAI_WORKFLOW_QUEUE or None,
                soft_time_limit=self.timeout + 1 + budget,
                time_limit=self.timeout
                + settings.CODEAI_WORKFLOW_HARD_TIMEOUT_GRACE_SECONDS
                + budget,
            )
        except Exception:  # the broker is down: the sweep re-sends scheduled steps never started
            logger.exception(
                "workflow step not enqueued", extra={"run": self.run_id, "step": self.step_id}
            )


def _schedule(run: WorkflowRun, step: WorkflowStep, *, countdown: float = 0.0) -> None:
    now = timezone.now()
    step.status = StepStatus.SCHEDULED
    step.task_id = str(uuid.uuid4())
    step.scheduled_at = now
    step.due_at = now + timedelta(seconds=countdown)
    _save(run, step, "status", "task_id", "scheduled_at", "due_at")
    _record(
        run,
        History.ACTIVITY_TASK_SCHEDULED,
        stepName=step.name,
        stepIndex=step.index,
        activityType=step.kind,
        attempt=step.attempts + 1,
        startToCloseTimeout=duration_text(step.timeout_seconds),
        delayMs=int(countdown * 1000),
    )
    _after_commit(run, _Enqueue(run.id, step.id, step.task_id, countdown, step.timeout_seconds))


def _condition_holds(condition: str, run_input: dict[str, Any]) -> bool:
    """`if "flag"`, `if "input.a.b"`, `if "!flag"`: a dotted path into the run's input."""
    text = condition.strip()
    negate = text.startswith("!")
    value: Any = run_input
    for part in text.lstrip("!").strip().removeprefix("input.").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return not value if negate else bool(value)


def _advance(run: WorkflowRun, steps: list[WorkflowStep]) -> None:
    """Schedule the next group when nothing is in flight; close the run when all is done."""
    while True:
        open_steps = [step for step in steps if not step.is_final]
        if not open_steps:
            _run_complete(run, steps)
            return
        if any(step.status in IN_FLIGHT for step in open_steps):
            return
        group = min(step.group for step in open_steps)
        scheduled = False
        for step in open_steps:
            if step.group != group:
                continue
            condition = step.input.get("condition")
            if condition and not _condition_holds(condition, run.input):
                step.status = StepStatus.SKIPPED
                step.error = f"condition {condition!r} is false"
                _save(run, step, "status", "error")
                continue
            _schedule(run, step)
            scheduled = True
        if scheduled:
            return


# --- closing a run -----------------------------------------------------------------------------


def _revoke(task_ids: list[str]) -> None:
    """Interrupt running steps. SIGUSR1 is Celery's soft time limit on prefork: the step stops
    waiting for its activity and finds its run closed, and the pool process lives on (SIGTERM
    would kill it, and Celery would re-queue its message)."""
    if not task_ids:
        return
    from codeai.celery import app

    try:
        app.control.revoke(task_ids, terminate=True, signal="SIGUSR1")
    except Exception:  # the steps check the run row anyway; revoking only stops them sooner
        logger.warning("could not revoke workflow steps", extra={"tasks": task_ids})


def _close_open_steps(run: WorkflowRun, steps: list[WorkflowStep], reason: str) -> None:
    """Skip pending steps, cancel scheduled and running ones (those are revoked after commit)."""
    now = timezone.now()
    running: list[str] = []
    for step in steps:
        if step.is_final:
            continue
        if step.status == StepStatus.RUNNING:
            running.append(step.task_id)
            _record_started(run, step)
            _record(run, History.ACTIVITY_TASK_CANCELED, stepName=step.name, attempt=step.attempts)
        step.status = (
            StepStatus.SKIPPED if step.status == StepStatus.PENDING else StepStatus.CANCELED
        )
        step.error = reason
        if step.started_at is not None:
            step.completed_at = now
        _save(run, step, "status", "error", "completed_at")
    if running:
        _after_commit(run, lambda: _revoke(running))


def _run_close(
    run: WorkflowRun,
    steps: list[WorkflowStep],
    *,
    status: str,
    error: str,
    event_type: str,
    attributes: dict[str, Any],
) -> None:
    _close_open_steps(run, steps, error or status)
    run.status = status
    run.error = error
    run.completed_at = timezone.now()
    run.output = _build_output(run, steps)
    _save(run, run, "status", "error", "completed_at", "output")
    _record(run, event_type, **attributes)


def _run_complete(run: WorkflowRun, steps: list[WorkflowStep]) -> None:
    _run_close(
        run,
        steps,
        status=RunStatus.COMPLETED,
        error="",
        event_type=History.WORKFLOW_EXECUTION_COMPLETED,
        attributes={},
    )
    duration = _duration_ms(run.started_at, run.completed_at)
    _emit(run, type="workflow.completed", data={**_summary(run), "durationMs": duration})
    if run.kind == WorkflowRun.Kind.TEST_SUITE:
        output = run.output
        _emit(
            run,
            type="test.suite.completed",
            data={
                **_summary(run),
                **{k: output[k] for k in ("name", "total", "passed", "failed", "skipped")},
                "durationMs": output["durationMs"],
            },
        )


def _run_fail(
    run: WorkflowRun, steps: list[WorkflowStep], *, error: str, timed_out: bool, **attributes: Any
) -> None:
    _run_close(
        run,
        steps,
        status=RunStatus.TIMED_OUT if timed_out else RunStatus.FAILED,
        error=error,
        event_type=(
            History.WORKFLOW_EXECUTION_TIMED_OUT if timed_out else History.WORKFLOW_EXECUTION_FAILED
        ),
        attributes={"error": error, **attributes},
    )
    _emit(
        run, type="workflow.failed", data={**_summary(run), "error": error, "timedOut": timed_out}
    )


def _run_time_out(run: WorkflowRun, steps: list[WorkflowStep]) -> None:
    limit = duration_text(run.timeout_seconds)
    _run_fail(
        run, steps, error=f"workflow timed out after {limit}", timed_out=True, cause="workflow"
    )


# --- step outcomes shared by the step runner and the sweep ----------------------------------


def _lost_attempt(run: WorkflowRun, step: WorkflowStep, steps: list[WorkflowStep]) -> bool:
    """The attempt's worker died (redelivered message or expired lease). True if retried now."""
    error = f"worker lost during attempt {step.attempts}"
    _record_started(run, step)
    # A lost worker is retried even under a one-attempt policy, once.
    retrying = step.attempts < max(_max_attempts(step), 2)
    _record(
        run,
        History.ACTIVITY_TASK_FAILED,
        stepName=step.name,
        attempt=step.attempts,
        error=error,
        retrying=retrying,
    )
    if retrying:
        return True
    _step_give_up(run, step, steps, error=error, status=StepStatus.FAILED)
    return False


def _agent_executed(run: WorkflowRun, step: WorkflowStep) -> None:
    output = step.output or {}
    _emit(
        run,
        type="agent.executed",
        data={
            **_summary(run),
            "agentName": step.name,
            "agentType": step.input.get("agentType") or "llm",
            "model": output.get("model") or step.input.get("model"),
            "status": step.status,
            "attempts": step.attempts,
            "durationMs": _duration_ms(step.started_at, step.completed_at),
            "tokens": output.get("tokens"),
            "error": step.error or None,
        },
    )


def _step_give_up(
    run: WorkflowRun, step: WorkflowStep, steps: list[WorkflowStep], *, error: str, status: str
) -> None:
    """A step failed for good: the run fails (test cases only record their verdict)."""
    step.status = status
    step.error = error
    step.completed_at = timezone.now()
    _save(run, step, "status", "error", "completed_at")
    if step.kind == WorkflowStep.Kind.AGENT:
        _agent_executed(run, step)
    timed_out = status == StepStatus.TIMED_OUT
    _run_fail(
        run,
        steps,
        error=f'step "{step.name}" {"timed out" if timed_out else "failed"}: {error}',
        timed_out=timed_out,
        cause="step",
        stepName=step.name,
    )
