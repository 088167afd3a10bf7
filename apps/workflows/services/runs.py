"""Starting, canceling and reading runs."""

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from codeai.api.exceptions import Conflict, NotFound

from ..definitions import workflow_plan
from ..models import WorkflowRun, WorkflowStep
from .engine import (
    History,
    RunStatus,
    _advance,
    _emit,
    _flush,
    _record,
    _run_close,
    _run_locked,
    _save,
    _steps,
    _summary,
    api_status,
    duration_text,
)

# --- selectors -------------------------------------------------------------------------------


def workflow_latest_run(*, workflow_id: str) -> WorkflowRun:
    run = WorkflowRun.objects.filter(workflow_id=workflow_id).order_by("-created_at", "-id").first()
    if run is None:
        raise NotFound("workflow")
    return run


def workflow_run_for_history(*, workflow_id: str, run_id: str | None) -> WorkflowRun:
    if not run_id:
        return workflow_latest_run(workflow_id=workflow_id)
    run = WorkflowRun.objects.filter(workflow_id=workflow_id, pk=run_id).first()
    if run is None:
        raise NotFound("workflow run")
    return run


# --- start -------------------------------------------------------------------------------------


def workflow_start(
    *,
    workflow_id: str,
    workflow_type: str,
    input: dict[str, Any],
    metadata: dict[str, Any] | None = None,
) -> WorkflowRun:
    """Validate, create the run and its steps, schedule the first group. 409 when one is open."""
    plan = workflow_plan(workflow_type=workflow_type, input=input)
    now = timezone.now()
    timeout = plan.get("timeoutSeconds")
    run = WorkflowRun(
        workflow_id=workflow_id,
        workflow_type=workflow_type,
        kind=plan["kind"],
        status=RunStatus.RUNNING,
        input=input,
        metadata=metadata or {},
        definition=plan,
        timeout_seconds=timeout,
        retry_policy=plan["steps"][0]["retryPolicy"] if plan["steps"] else {},
        started_at=now,
        deadline=now + timedelta(seconds=timeout) if timeout else None,
    )
    try:
        with transaction.atomic():
            run.save(force_insert=True)
            steps = WorkflowStep.objects.bulk_create(
                [
                    WorkflowStep(
                        run=run,
                        index=index,
                        name=step["name"],
                        kind=step["kind"],
                        group=step["group"],
                        input={**step["spec"], "condition": step.get("condition")},
                        timeout_seconds=step["timeoutSeconds"],
                        retry_policy=step["retryPolicy"],
                    )
                    for index, step in enumerate(plan["steps"])
                ]
            )
            _record(
                run,
                History.WORKFLOW_EXECUTION_STARTED,
                workflowType=workflow_type,
                input=input,
                metadata=run.metadata,
                workflowExecutionTimeout=duration_text(timeout) if timeout else None,
                steps=len(steps),
            )
            _emit(run, type="workflow.started", data=_summary(run))
            _advance(run, steps)
            _flush(run)
    except IntegrityError:
        existing = WorkflowRun.objects.filter(
            workflow_id=workflow_id, status__in=WorkflowRun.OPEN_STATUSES
        ).first()
        if existing is None:
            raise
        raise Conflict(
            "workflow already running", {"workflowId": workflow_id, "runId": existing.id}
        ) from None
    return run


# --- cancel ------------------------------------------------------------------------------------


def workflow_cancel(*, workflow_id: str, reason: str = "") -> WorkflowRun:
    """Cancel the open run: durable first (the row), then revoke running steps after commit."""
    latest = workflow_latest_run(workflow_id=workflow_id)
    with _run_locked(latest.id) as run:
        if run is None or not run.is_open:
            status = api_status(run.status) if run else "unknown"
            raise Conflict("workflow is not running", {"workflowId": workflow_id, "status": status})
        _record(run, History.WORKFLOW_EXECUTION_CANCEL_REQUESTED, reason=reason)
        run.cancel_reason = reason
        _save(run, run, "cancel_reason")
        message = f"canceled: {reason}" if reason else "canceled"
        _run_close(
            run,
            _steps(run),
            status=RunStatus.CANCELED,
            error=message,
            event_type=History.WORKFLOW_EXECUTION_CANCELED,
            attributes={"reason": reason},
        )
        _emit(run, type="workflow.canceled", data={**_summary(run), "reason": reason})
    return run
