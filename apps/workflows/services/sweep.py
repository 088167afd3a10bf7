"""Beat's safety net for runs and steps that nothing else will move."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..models import WorkflowRun, WorkflowStep
from .engine import (
    StepStatus,
    _after_commit,
    _Enqueue,
    _lost_attempt,
    _run_locked,
    _run_time_out,
    _save,
    _schedule,
    _steps,
)

# --- sweep -------------------------------------------------------------------------------------


def workflow_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Beat's safety net: time out runs past their deadline, re-send lost step messages, and
    recover steps whose worker died (their lease, `due_at`, expired while still running)."""
    now = now or timezone.now()
    counts = {"timedOut": 0, "resent": 0, "recovered": 0}
    for run_id in WorkflowRun.objects.filter(
        status__in=WorkflowRun.OPEN_STATUSES, deadline__lte=now
    ).values_list("pk", flat=True):
        with _run_locked(run_id) as run:
            if run is not None and run.is_open and run.deadline and run.deadline <= now:
                _run_time_out(run, _steps(run))
                counts["timedOut"] += 1
    resend_before = now - timedelta(seconds=settings.CODEAI_WORKFLOW_RESEND_AFTER_SECONDS)
    stale = WorkflowStep.objects.filter(
        Q(status=StepStatus.SCHEDULED, due_at__lte=resend_before)
        | Q(status=StepStatus.RUNNING, due_at__lte=now),
        run__status__in=WorkflowRun.OPEN_STATUSES,
    ).values_list("run_id", "pk")
    for run_id, step_id in stale:
        with _run_locked(run_id) as run:
            if run is None or not run.is_open:
                continue
            steps = _steps(run)
            step = next(s for s in steps if s.pk == step_id)
            if step.status == StepStatus.SCHEDULED and step.due_at <= resend_before:
                step.due_at = now
                _save(run, step, "due_at")
                _after_commit(
                    run, _Enqueue(run.id, step.pk, step.task_id, 0.0, step.timeout_seconds)
                )
                counts["resent"] += 1
            elif step.status == StepStatus.RUNNING and step.due_at <= now:
                counts["recovered"] += 1
                if _lost_attempt(run, step, steps):
                    _schedule(run, step)
    return counts
