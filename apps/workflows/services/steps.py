"""Running one step: claim it, run its activity, apply the result once, advance the run."""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from codeai.celery import (
    call_while_database_unreachable,
    soft_time_limit_allowed,
    soft_time_limit_held,
)
from codeai.db import fetch_sets

from .. import activities
from ..definitions import retry_delay
from ..models import WorkflowRun, WorkflowStep
from .engine import (
    History,
    NeedsLock,
    StepStatus,
    _advance,
    _agent_executed,
    _Enqueue,
    _flush,
    _lost_attempt,
    _max_attempts,
    _read,
    _read_statements,
    _record,
    _record_started,
    _run_from_rows,
    _run_locked,
    _run_time_out,
    _save,
    _schedule,
    _step_give_up,
    _steps,
    duration_text,
)

logger = logging.getLogger(__name__)


@dataclass
class _Claim:
    run_id: str
    step_id: int
    task_id: str
    attempt: int
    kind: str
    spec: dict[str, Any]
    run_input: dict[str, Any]
    timeout_seconds: float
    deadline: float  # time.monotonic()
    run_deadline_binds: bool
    # The run and its steps as read right after the claim, for `_finish_unlocked`.
    snapshot: WorkflowRun | None = None


@dataclass
class _Outcome:
    kind: str  # completed | failed | timed_out | abandoned
    output: dict[str, Any] | None = None
    failure: activities.StepFailure | None = None


@dataclass(frozen=True)
class Carrier:
    """The Celery task running a step. Once the step is done, it may take the run's next step
    itself (eager dispatch, as Temporal's eager activity execution): the step is claimed in the
    same write that completes the previous one, and runs without a message. While the task
    runs, its message stays unacknowledged (acks_late): if its worker dies, the redelivered
    message takes back the step it was running (`_claim`).

    It takes a step while it has run less than CODEAI_WORKFLOW_EAGER_SECONDS (so a long run
    does not hold a pool process from other runs) and while the step's timeout fits in the
    task's hard time limit. Its task id becomes the step's, so a cancel's revoke reaches it.
    """

    task_id: str
    takes_until: float  # time.monotonic()
    killed_at: float | None = None  # time.monotonic(), the hard time limit; None: no limit

    @classmethod
    def starting_now(cls, task_id: str, time_limit: float | None) -> "Carrier | None":
        budget = settings.CODEAI_WORKFLOW_EAGER_SECONDS
        if budget <= 0:
            return None
        now = time.monotonic()
        return cls(task_id, now + budget, now + time_limit if time_limit else None)

    def can_take(self, step: WorkflowStep) -> bool:
        now = time.monotonic()
        if now >= self.takes_until or _worker_stopping():
            return False
        grace = settings.CODEAI_WORKFLOW_HARD_TIMEOUT_GRACE_SECONDS
        return self.killed_at is None or now + step.timeout_seconds + grace <= self.killed_at


def _worker_stopping() -> bool:
    """A warm or cold shutdown has begun in this process (solo, threads and gevent pools; a
    prefork pool process is not told, and its budget bounds what it still takes)."""
    from celery.worker import state

    # As celery.worker.state.maybe_shutdown: a warm shutdown sets an exit code, 0 included.
    return any(
        flag is not None and flag is not False
        for flag in (state.should_stop, state.should_terminate)
    )


def _render_context(run: WorkflowRun, steps: list[WorkflowStep], step: WorkflowStep) -> dict:
    done = {
        other.name: {"output": (other.output or {}).get("output")}
        for other in steps
        if other.status == StepStatus.COMPLETED
    }
    previous = [other for other in steps if other.group < step.group and other.output]
    return {
        "input": run.input,
        "agents": done,
        "steps": done,
        "previous": {"output": (previous[-1].output or {}).get("output") if previous else None},
    }


def _attempt_deadline(run: WorkflowRun, step: WorkflowStep, now: datetime) -> tuple[datetime, bool]:
    """When an attempt starting `now` must end, and whether that is the run's deadline."""
    step_deadline = now + timedelta(seconds=step.timeout_seconds)
    binds = run.deadline is not None and run.deadline < step_deadline
    return (run.deadline if binds else step_deadline), binds


def _start_attempt(
    run: WorkflowRun, step: WorkflowStep, task_id: str, now: datetime
) -> tuple[datetime, bool]:
    """Set the step's fields for a new attempt; (its deadline, whether the run's deadline binds)."""
    step.status = StepStatus.RUNNING
    step.attempts += 1
    step.task_id = task_id
    step.started_at = step.started_at or now
    step.attempt_started_at = now
    deadline, binds = _attempt_deadline(run, step, now)
    # The lease: past it (plus the hard time limit's grace) the sweep treats the worker as lost.
    step.due_at = deadline + timedelta(seconds=settings.CODEAI_WORKFLOW_HARD_TIMEOUT_GRACE_SECONDS)
    return deadline, binds


_CLAIM_FIELDS = ["status", "attempts", "task_id", "started_at", "attempt_started_at", "due_at"]


def _claim_result(
    run: WorkflowRun, step: WorkflowStep, deadline: datetime, binds: bool, now: datetime
) -> _Claim:
    spec = dict(step.input)
    prompt = spec.get("prompt")
    if step.kind == WorkflowStep.Kind.AGENT and isinstance(prompt, str) and "{{" in prompt:
        spec["prompt"] = activities.render_placeholders(
            prompt, _render_context(run, _steps(run), step)
        )
    return _Claim(
        run_id=run.id,
        step_id=step.pk,
        task_id=step.task_id,
        attempt=step.attempts,
        kind=step.kind,
        spec=spec,
        run_input=run.input,
        timeout_seconds=step.timeout_seconds,
        deadline=time.monotonic() + (deadline - now).total_seconds(),
        run_deadline_binds=binds,
    )


_SLOW_PATH = object()


# `_start_attempt` as one statement: the step must be `scheduled` and its run open and before
# its deadline. Closing a run closes its scheduled steps under the run's lock, in the same
# transaction, so a step still `scheduled` belongs to an open run and needs no lock on the run.
# Parameters: task id, now, now, now, grace seconds, step id, run id, now.
_CLAIM_SQL = """
UPDATE workflows_workflowstep AS s SET
    status = 'running',
    attempts = s.attempts + 1,
    task_id = %s,
    started_at = COALESCE(s.started_at, %s),
    attempt_started_at = %s,
    due_at = LEAST(
        COALESCE(r.deadline, 'infinity'), %s + s.timeout_seconds * interval '1 second'
    ) + %s * interval '1 second'
FROM workflows_workflowrun AS r
WHERE s.id = %s AND s.run_id = %s AND r.id = s.run_id
    AND s.status = 'scheduled' AND r.status IN ('pending', 'running')
    AND (r.deadline IS NULL OR r.deadline > %s)
RETURNING s.id
"""


def _claim_scheduled(run_id: str, step_id: int, task_id: str) -> Any:
    """The common case in one round trip, without locking the run: on PostgreSQL, one
    conditional UPDATE moves a `scheduled` step of an open run to `running`, and the run and
    its steps are read right after it (the attempt's completion starts from that snapshot).
    Everything else (a redelivery, a passed deadline, a closed run, another database) takes
    the locked path."""
    if connection.vendor != "postgresql":
        return _SLOW_PATH
    now = timezone.now()
    grace = settings.CODEAI_WORKFLOW_HARD_TIMEOUT_GRACE_SECONDS
    claim = (_CLAIM_SQL, [task_id, now, now, now, grace, step_id, run_id, now])
    # Losing the claim in a database crash only runs the attempt again: `_finish` (a durable
    # commit) applies a result only to a claimed attempt, and the sweep re-sends the step.
    claimed, *rows = fetch_sets([claim, *_read_statements(run_id, lock=False)], durable=False)
    if not claimed:
        return _SLOW_PATH
    run = _run_from_rows(*rows)
    step = next(s for s in _steps(run) if s.pk == step_id)
    deadline, binds = _attempt_deadline(run, step, now)
    result = _claim_result(run, step, deadline, binds, now)
    result.snapshot = run
    return result


def _claim(run_id: str, step_id: int, task_id: str) -> _Claim | None:
    fast = _claim_scheduled(run_id, step_id, task_id)
    if fast is not _SLOW_PATH:
        return fast
    with _run_locked(run_id) as run:
        if run is None or not run.is_open:
            return None
        steps = _steps(run)
        step = next((s for s in steps if s.pk == step_id), None)
        if step is not None and step.is_final:
            # A message whose task went on to run later steps of the run (`Carrier`), delivered
            # again: it takes back the step it was running when its worker was lost.
            step = next(
                (s for s in steps if s.status == StepStatus.RUNNING and s.task_id == task_id),
                None,
            )
        if step is None or step.is_final or step.status == StepStatus.PENDING:
            return None
        if step.status == StepStatus.RUNNING and step.task_id != task_id:
            return None  # a duplicate message; the attempt that claimed the step owns it
        now = timezone.now()
        if run.deadline is not None and now >= run.deadline:
            _run_time_out(run, steps)
            return None
        if step.status == StepStatus.RUNNING and not _lost_attempt(run, step, steps):
            return None
        deadline, binds = _start_attempt(run, step, task_id, now)
        _save(run, step, *_CLAIM_FIELDS)
        return _claim_result(run, step, deadline, binds, now)


def _perform(claim: _Claim) -> dict[str, Any]:
    if claim.kind == WorkflowStep.Kind.AGENT and "agentName" in claim.spec:
        return activities.run_agent(claim.spec, deadline=claim.deadline)
    if claim.kind == WorkflowStep.Kind.TEST:
        return activities.run_test_case(claim.spec, deadline=claim.deadline)
    return activities.run_declared_step(claim.spec, claim.run_input, deadline=claim.deadline)


def _run_is_open(run_id: str) -> bool:
    """Whether the run is still open; while the database is unreachable, it is taken to be (the
    step's deadline still bounds the wait)."""
    try:
        status = WorkflowRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
    except (OperationalError, InterfaceError):
        connection.close_if_unusable_or_obsolete()
        return True
    return status in WorkflowRun.OPEN_STATUSES


def _execute(claim: _Claim) -> _Outcome:
    """Run the activity in a helper thread; stop waiting on cancel (polled) or the deadline.

    Any pool can interrupt a wait, not a thread: an abandoned activity finishes its current call
    in the background (each call is bounded by the deadline) and its result is discarded.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["output"] = _perform(claim)
        except activities.StepFailure as exc:
            box["failure"] = exc
        except activities.StepTimedOut:
            box["timed_out"] = True
        except Exception as exc:
            logger.exception("workflow step crashed", extra={"run": claim.run_id})
            box["failure"] = activities.StepFailure(
                f"internal error: {type(exc).__name__}: {exc}", retryable=False
            )

    worker = threading.Thread(target=target, daemon=True, name=f"workflow-step-{claim.step_id}")
    worker.start()
    poll = float(settings.CODEAI_WORKFLOW_CANCEL_POLL_SECONDS)
    try:
        while True:
            remaining = claim.deadline - time.monotonic()
            with soft_time_limit_allowed():  # a revoke or the time limit stops the wait only
                worker.join(timeout=max(0.0, min(poll, remaining)))
            if not worker.is_alive():
                break
            if time.monotonic() >= claim.deadline:
                return _Outcome("timed_out")
            if not _run_is_open(claim.run_id):
                return _Outcome("abandoned")
    except SoftTimeLimitExceeded:
        return _Outcome("timed_out")
    if "output" in box:
        return _Outcome("completed", output=box["output"])
    if "failure" in box:
        return _Outcome("failed", failure=box["failure"])
    return _Outcome("timed_out")


def _retry_or_give_up(
    run: WorkflowRun,
    step: WorkflowStep,
    steps: list[WorkflowStep],
    *,
    error: str,
    retryable: bool,
    retry_after: float | None,
    timed_out: bool,
) -> None:
    can_retry = retryable and step.attempts < _max_attempts(step)
    delay = 0.0
    if can_retry:
        delay = max(retry_delay(step.retry_policy, attempt=step.attempts), retry_after or 0.0)
        if run.deadline is not None and timezone.now() + timedelta(seconds=delay) >= run.deadline:
            can_retry = False
    event = History.ACTIVITY_TASK_TIMED_OUT if timed_out else History.ACTIVITY_TASK_FAILED
    _record(
        run,
        event,
        stepName=step.name,
        attempt=step.attempts,
        error=error,
        retrying=can_retry,
        **({"nextAttemptInMs": int(delay * 1000)} if can_retry else {}),
    )
    if can_retry:
        step.error = error
        _save(run, step, "error")
        _schedule(run, step, countdown=delay)
        return
    status = StepStatus.TIMED_OUT if timed_out else StepStatus.FAILED
    _step_give_up(run, step, steps, error=error, status=status)


def _case_verdict(
    run: WorkflowRun, step: WorkflowStep, steps: list[WorkflowStep], verdict: dict[str, Any]
) -> None:
    """A test case ran: record its verdict; stopOnFailure skips the cases not yet started."""
    step.output = verdict
    step.status = StepStatus.COMPLETED if verdict["status"] == "passed" else StepStatus.FAILED
    step.error = verdict.get("reason") or ""
    step.completed_at = timezone.now()
    _save(run, step, "output", "status", "error", "completed_at")
    if verdict["status"] == "passed":
        _record(
            run,
            History.ACTIVITY_TASK_COMPLETED,
            stepName=step.name,
            attempt=step.attempts,
            result=verdict,
        )
        return
    _record(
        run,
        History.ACTIVITY_TASK_FAILED,
        stepName=step.name,
        attempt=step.attempts,
        error=step.error,
        retrying=False,
    )
    if run.definition.get("stopOnFailure"):
        for other in steps:
            if other.status in (StepStatus.PENDING, StepStatus.SCHEDULED):
                other.status = StepStatus.SKIPPED
                other.error = f'skipped: stopOnFailure after "{step.name}" failed'
                _save(run, other, "status", "error")


def _finish(claim: _Claim, outcome: _Outcome, carrier: Carrier | None) -> _Claim | None:
    """Apply the outcome; the next step's claim if the carrier took it (`Carrier`)."""
    written, taken = _finish_unlocked(claim, outcome, carrier)
    if written:
        return taken
    with _run_locked(claim.run_id) as run:
        if run is None or not _apply(run, claim, outcome):
            return None
        return _take_eagerly(run, carrier)


def _finish_unlocked(
    claim: _Claim, outcome: _Outcome, carrier: Carrier | None
) -> tuple[bool, _Claim | None]:
    """The common case without a transaction, as Temporal updates a workflow's state: read the
    run and its steps, decide, then write everything in one statement on condition that the
    run's `last_event_id` is still the one read. (False, None): nothing written, the caller
    takes the locked path, which decides again. (True, the next step's claim or None): written.

    The condition covers every change a decision here depends on: each change to a run made
    under its lock (a step finishing, cancel, the sweep) records history, so moves
    `last_event_id`. The changes made without it (claims, a re-send) only touch `scheduled`
    steps, which a completed step's outcome neither reads nor writes: it writes its own
    `running` step, `pending` steps it schedules or skips (or claims, `_take_eagerly`), and the
    run. Outcomes that can close siblings (a failure, a timeout, a test case's verdict) take
    the locked path.
    """
    if (
        outcome.kind != "completed"
        or claim.kind == WorkflowStep.Kind.TEST
        or connection.vendor != "postgresql"
    ):
        return False, None
    snapshot, claim.snapshot = claim.snapshot, None
    # First from the claim's snapshot (unchanged, unless a sibling step or a cancel moved the
    # run meanwhile), then from a fresh read.
    for run in (snapshot, None):
        run = run or _read(claim.run_id, lock=False)
        if run is None:
            return False, None
        expected = run.last_event_id
        if not _apply(run, claim, outcome):
            return False, None
        taken = _take_eagerly(run, carrier)
        try:
            if _flush(run, expected_event_id=expected):
                return True, taken
        except NeedsLock:  # a webhook subscribes to one of its events
            return False, None
    return False, None


def _take_eagerly(run: WorkflowRun, carrier: Carrier | None) -> _Claim | None:
    """Claim the first step the decision scheduled to start now, for the carrier to run next:
    its message is not sent, and the claim is written with the rest of the decision."""
    if carrier is None or not run.is_open:
        return None
    callbacks = run.__dict__.get("_after_commit", [])
    send = next((c for c in callbacks if isinstance(c, _Enqueue) and not c.countdown), None)
    if send is None:
        return None
    step = next(s for s in _steps(run) if s.pk == send.step_id)
    now = timezone.now()
    if not carrier.can_take(step) or (run.deadline is not None and now >= run.deadline):
        return None
    callbacks.remove(send)
    deadline, binds = _start_attempt(run, step, carrier.task_id, now)
    _save(run, step, *_CLAIM_FIELDS)
    taken = _claim_result(run, step, deadline, binds, now)
    # The run as the write leaves it (its last_event_id included), for the step's completion;
    # if the write does not happen, the claim is dropped with it.
    taken.snapshot = run
    return taken


def _apply(run: WorkflowRun, claim: _Claim, outcome: _Outcome) -> bool:
    """Apply the attempt's outcome to the run; False if it is not the step's current attempt
    (or the run is closed), and then nothing changed."""
    if not run.is_open:
        return False
    steps = _steps(run)
    step = next((s for s in steps if s.pk == claim.step_id), None)
    if (
        step is None
        or step.status != StepStatus.RUNNING
        or step.task_id != claim.task_id
        or step.attempts != claim.attempt
    ):
        return False  # someone else owns the step now; this result is never applied
    _record_started(run, step)
    if outcome.kind == "timed_out" and claim.run_deadline_binds:
        _run_time_out(run, steps)
        return True
    if step.kind == WorkflowStep.Kind.TEST:
        if outcome.kind == "completed":
            verdict = outcome.output
        elif outcome.kind == "timed_out":
            verdict = {
                "status": "failed",
                "reason": f"timed out after {duration_text(step.timeout_seconds)}",
            }
        else:
            verdict = {"status": "failed", "reason": outcome.failure.message}
        _case_verdict(run, step, steps, verdict)
    elif outcome.kind == "completed":
        step.status = StepStatus.COMPLETED
        step.output = outcome.output
        step.error = ""
        step.completed_at = timezone.now()
        _save(run, step, "status", "output", "error", "completed_at")
        _record(
            run,
            History.ACTIVITY_TASK_COMPLETED,
            stepName=step.name,
            attempt=step.attempts,
            result=outcome.output,
        )
    elif outcome.kind == "timed_out":
        _retry_or_give_up(
            run,
            step,
            steps,
            error=f"timed out after {duration_text(step.timeout_seconds)}",
            retryable=True,
            retry_after=None,
            timed_out=True,
        )
    else:
        failure = outcome.failure
        _retry_or_give_up(
            run,
            step,
            steps,
            error=failure.message,
            retryable=failure.retryable,
            retry_after=failure.retry_after,
            timed_out=False,
        )
    if outcome.kind == "completed" and step.kind == WorkflowStep.Kind.AGENT:
        _agent_executed(run, step)
    if run.is_open:
        _advance(run, steps)
    return True


def workflow_step_run(
    *, run_id: str, step_id: int, task_id: str, carrier: Carrier | None = None
) -> None:
    """Claim the step, run its activity, apply the result once, advance the run; then, given a
    carrier, run the next steps it takes (`Carrier`). Celery's soft time limit (and a cancel's
    revoke) can stop the wait for an activity, never a database write
    (codeai.celery.soft_time_limit_held). While the database is unreachable, the claim and
    the write of an outcome are tried again in the task, rather than losing the outcome; both
    are safe to repeat (a result is applied only to the attempt that claimed the step)."""
    with soft_time_limit_held():
        claim = call_while_database_unreachable(partial(_claim, run_id, step_id, task_id))
        while claim is not None:
            outcome = _execute(claim)
            if outcome.kind == "abandoned":
                return  # the run was closed (canceled) while the step ran; its steps are closed
            claim = call_while_database_unreachable(partial(_finish, claim, outcome, carrier))
