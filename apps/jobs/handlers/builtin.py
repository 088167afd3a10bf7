"""Built-in handlers that stay inside CodeAI: echo, cleanup, deployment.execute, workflow.start."""

import importlib
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from codeai.api.exceptions import ApiError, Conflict

from .base import JobContext, JobError, PermanentJobError

# Retention services of other apps, called when they exist: (result key, module, function).
PRUNERS = (
    ("events", "apps.events.services", "event_prune"),
    ("deliveries", "apps.webhooks.services", "delivery_prune"),
)


def echo(payload: Any, context: JobContext) -> Any:
    """Return the payload unchanged."""
    return payload


def validate_cleanup(payload: Any) -> dict[str, str]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        return {"": "must be an object"}
    errors = {name: "unknown field" for name in sorted(set(payload) - {"days"})}
    days = payload.get("days", 1)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 36500:
        errors["days"] = "must be an integer between 1 and 36500"
    return errors


def cleanup(payload: Any, context: JobContext) -> dict[str, Any]:
    """Retention: prune finished jobs, events and webhook deliveries older than the cut-off.

    `days` in the payload overrides CODEAI_RETENTION_DAYS.
    """
    from apps.jobs.services import jobs_prune

    errors = validate_cleanup(payload)
    if errors:
        detail = "; ".join(f"{k or 'payload'}: {v}" for k, v in sorted(errors.items()))
        raise PermanentJobError(f"invalid payload: {detail}")
    days = (payload or {}).get("days", settings.CODEAI_RETENTION_DAYS)
    before = timezone.now() - timedelta(days=days)
    result: dict[str, Any] = {
        "before": before.isoformat().replace("+00:00", "Z"),
        "jobs": jobs_prune(before=before),
    }
    for key, module_name, function_name in PRUNERS:
        try:
            prune = getattr(importlib.import_module(module_name), function_name, None)
        except ImportError:
            prune = None
        if prune is not None:
            result[key] = prune(before=before)
    return result


def validate_deployment_execute(payload: Any) -> dict[str, str]:
    if not isinstance(payload, dict):
        return {"": "must be an object"}
    errors = {
        name: "unknown field" for name in sorted(set(payload) - {"deployment_id", "variables"})
    }
    if "deployment_id" not in payload:
        errors["deployment_id"] = "is required"
    else:
        try:
            uuid.UUID(str(payload["deployment_id"]))
        except ValueError:
            errors["deployment_id"] = "must be a valid UUID"
        else:
            if not isinstance(payload["deployment_id"], str):
                errors["deployment_id"] = "must be a valid UUID"
    if "variables" in payload and not isinstance(payload["variables"], dict):
        errors["variables"] = "must be an object"
    return errors


def deployment_execute(payload: Any, context: JobContext) -> dict[str, Any]:
    """Execute a deployment's program (as POST /deployments/{id}/execute does).

    The job completes once the execution is queued; the execution itself is its own record
    (GET /executions/{execution_id}). A busy deployment (409) is retried; a missing deployment
    or undeclared variables fail the job at once.
    """
    from apps.deployments.models import Deployment
    from apps.deployments.services import deployment_execute as execute

    errors = validate_deployment_execute(payload)
    if errors:
        detail = "; ".join(f"{k or 'payload'}: {v}" for k, v in sorted(errors.items()))
        raise PermanentJobError(f"invalid payload: {detail}")
    deployment = Deployment.objects.filter(pk=payload["deployment_id"]).first()
    if deployment is None:
        raise PermanentJobError(f"deployment {payload['deployment_id']} not found")
    try:
        execution = execute(deployment=deployment, variables=payload.get("variables") or {})
    except Conflict as exc:
        raise JobError(_api_message(exc)) from None
    except ApiError as exc:
        raise PermanentJobError(_api_message(exc)) from None
    return {
        "execution_id": execution.id,
        "deployment_id": str(deployment.id),
        "status": execution.status,
    }


def _api_message(exc: ApiError) -> str:
    if not exc.details:
        return exc.message
    details = "; ".join(f"{key}: {value}" for key, value in exc.details.items())
    return f"{exc.message} ({details})"


def workflow_start(payload: Any, context: JobContext) -> dict[str, Any]:
    """Start a workflow run (as POST /workflows does); the job completes once it is started.

    Payload: `{"workflowType", "input", "workflowId"?, "metadata"?}`. Without a workflowId the
    job's own id is used, so every firing of a recurring job starts its own run. A workflowId
    that is still running (409) is retried; invalid input fails the job at once.
    """
    from apps.workflows.services import workflow_start as start

    if not isinstance(payload, dict):
        raise PermanentJobError("invalid payload: must be an object")
    unknown = sorted(set(payload) - {"workflowId", "workflowType", "input", "metadata"})
    if unknown:
        raise PermanentJobError(f"invalid payload: unknown field {', '.join(unknown)}")
    try:
        run = start(
            workflow_id=payload.get("workflowId") or context.job_id,
            workflow_type=payload.get("workflowType", ""),
            input=payload.get("input") if isinstance(payload.get("input"), dict) else {},
            metadata={**(payload.get("metadata") or {}), "job_id": context.job_id},
        )
    except Conflict as exc:
        raise JobError(_api_message(exc)) from None
    except ApiError as exc:
        raise PermanentJobError(_api_message(exc)) from None
    return {"workflowId": run.workflow_id, "runId": run.id, "status": run.status}
