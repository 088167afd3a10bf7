"""Deployments and their executions: every write, status change and event."""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.configs.models import Config
from apps.events.services import emit
from codeai.api.exceptions import Conflict, ValidationFailed

from .models import Deployment, Execution

logger = logging.getLogger(__name__)
SOURCE = "deployment-service"


def _config_or_400(config_id) -> Config | None:
    if config_id is None:
        return None
    config = Config.objects.filter(pk=config_id).first()
    if config is None:
        raise ValidationFailed({"config_id": "config not found"})
    return config


def _save_unique(deployment: Deployment, **save_kwargs) -> None:
    try:
        with transaction.atomic():
            deployment.save(**save_kwargs)
    except IntegrityError:
        if Deployment.objects.filter(name=deployment.name).exclude(pk=deployment.pk).exists():
            raise Conflict("deployment name already exists", {"name": "must be unique"}) from None
        raise


def _summary(deployment: Deployment) -> dict[str, Any]:
    return {
        "deployment_id": str(deployment.id),
        "name": deployment.name,
        "status": deployment.status,
        "config_id": str(deployment.config_id) if deployment.config_id else None,
    }


def deployment_create(*, name: str, config_id=None) -> Deployment:
    deployment = Deployment(name=name, config=_config_or_400(config_id))
    with transaction.atomic():
        _save_unique(deployment)
        emit(type="deployment.created", source=SOURCE, data=_summary(deployment))
    return deployment


_UNSET = object()


def deployment_update(
    *, deployment: Deployment, name: str | None = None, config_id=_UNSET, status: str | None = None
) -> Deployment:
    if name is not None:
        deployment.name = name
    if config_id is not _UNSET:
        deployment.config = _config_or_400(config_id)
    if status is not None:
        deployment.status = status
    with transaction.atomic():
        _save_unique(deployment)
        emit(type="deployment.updated", source=SOURCE, data=_summary(deployment))
    return deployment


def deployment_delete(*, deployment: Deployment) -> None:
    """Delete; executions stay readable. Refused (409) while an execution is open."""
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if locked.executions.filter(status__in=Execution.OPEN_STATUSES).exists():
            raise Conflict("deployment has a running execution", {"deployment_id": str(locked.id)})
        data = _summary(locked)
        from apps.jobs.services import jobs_remove_for_owner

        jobs_remove_for_owner(owner=deployment_job_owner(locked.id))
        locked.delete()
        emit(type="deployment.deleted", source=SOURCE, data=data)


def declared_variables(config: Config) -> list[str]:
    """Names of the program's top-level `var` declarations, in source order."""
    statements = (config.ast_json or {}).get("Statements") or []
    return [s["Name"] for s in statements if isinstance(s, dict) and s.get("Kind") == "VarDecl"]


def _check_variable_value(value: Any, depth: int = 0) -> bool:
    if isinstance(value, bool | str) or (isinstance(value, int | float) and value == value):
        return True
    if isinstance(value, list) and depth < 8:
        return all(_check_variable_value(item, depth + 1) for item in value)
    return False


def _check_variables(config: Config, variables: dict[str, Any]) -> None:
    declared = declared_variables(config)
    errors: dict[str, str] = {}
    for name, value in variables.items():
        if name not in declared:
            names = " ".join(declared) if declared else "(none)"
            errors[f"variables.{name}"] = f"is not declared by the program; declared: {names}"
        elif not _check_variable_value(value):
            errors[f"variables.{name}"] = "must be a string, number, boolean or array of them"
    if errors:
        raise ValidationFailed(errors)


def deployment_execute(*, deployment: Deployment, variables: dict[str, Any]) -> Execution:
    """Create an execution and queue it on a worker. 409 if the config is invalid or busy."""
    config = deployment.config
    if config is None:
        raise Conflict("deployment has no config to execute")
    if not config.is_valid:
        raise Conflict("config is not valid", {"validation_errors": config.validation_errors or []})
    _check_variables(config, variables)
    with transaction.atomic():
        locked = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if locked.executions.filter(status__in=Execution.OPEN_STATUSES).exists():
            raise Conflict("an execution is already running", {"deployment_id": str(locked.id)})
        now = timezone.now()
        execution = Execution.objects.create(
            deployment=locked,
            deployment_ref=locked.id,
            variables=variables,
            started_at=now,
            enqueued_at=now,
        )
        locked.status = Deployment.Status.RUNNING
        locked.save(update_fields=["status", "updated_at"])
        emit(
            type="deployment.executed",
            source=SOURCE,
            data={**_summary(locked), "execution_id": execution.id},
        )
        transaction.on_commit(lambda: _enqueue_execution(execution.id))
    return execution


def _enqueue_execution(execution_id: str) -> None:
    """Publish the run message; if the broker is down, the sweep publishes it later."""
    from .tasks import execution_run_task

    try:
        execution_run_task.delay(execution_id)
    except Exception:
        logger.warning(
            "execution not enqueued; the sweep will retry", extra={"execution": execution_id}
        )


def execution_run(*, execution_id: str) -> Execution | None:
    """Run the program on this worker, once: only a pending execution is claimed, so a
    duplicate or redelivered message does nothing (a lost run is failed by the sweep)."""
    from apps.dsl.compiler import parse
    from apps.dsl.interpreter import run

    with transaction.atomic():
        execution = Execution.objects.select_for_update().filter(pk=execution_id).first()
        if execution is None or execution.status != Execution.Status.PENDING:
            return execution
        execution.status = Execution.Status.RUNNING
        execution.run_started_at = timezone.now()
        execution.save(update_fields=["status", "run_started_at"])
        emit(
            type="execution.started",
            source=SOURCE,
            data={"execution_id": execution.id, "deployment_id": str(execution.deployment_ref)},
        )
    deployment = Deployment.objects.select_related("config").filter(pk=execution.deployment_id)
    config = deployment[0].config if deployment else None
    if config is None:
        return _execution_finish(execution, exit_code=1, output="", error="deployment deleted")
    try:
        result = run(
            parse(config.content),
            variables=execution.variables,
            exec_enabled=settings.CODEAI_EXEC_ENABLED,
            max_steps=settings.CODEAI_DSL_MAX_STEPS,
            timeout_seconds=settings.CODEAI_DSL_TIMEOUT_SECONDS,
            exec_timeout_seconds=settings.CODEAI_EXEC_TIMEOUT_SECONDS,
        )
    except Exception as exc:  # a compiler/interpreter bug must not leave the row running
        logger.exception("execution crashed", extra={"execution": execution.id})
        return _execution_finish(execution, exit_code=1, output="", error=f"internal error: {exc}")
    # The transcript is the printed output plus any runtime error line: the reference gives
    # executions only `output`, so that is where a failure's reason must be readable.
    output, error, exit_code = result.transcript, result.error or "", result.exit_code
    if exit_code == 0:
        try:
            _register_declared_jobs(execution, deployment[0], result.jobs)
        except ValidationFailed as exc:
            problems = "; ".join(f"{key}: {value}" for key, value in exc.details.items())
            error = f"declared jobs were not registered: {problems}"
            output, exit_code = f"{output}\n{error}" if output else error, 1
    return _execution_finish(execution, exit_code=exit_code, output=output, error=error)


def deployment_job_owner(deployment_id) -> str:
    return f"deployment:{deployment_id}"


def _register_declared_jobs(execution: Execution, deployment: Deployment, jobs: list) -> None:
    """`job` blocks with a schedule become the deployment's recurring jobs, replacing the last set.

    A job without a schedule has nothing to fire it and is not registered. The job's `task`
    names the handler (`echo`, `http.request`, `cleanup`, …); `retry { max_attempts N }`
    becomes N - 1 retries.
    """
    from apps.jobs.services import jobs_replace_recurring_for_owner

    recurring = []
    for job in jobs:
        if not job.get("schedule"):
            continue
        retry = job.get("retry") or {}
        item = {
            "cron_spec": job["schedule"],
            "task_type": job["task"],
            "payload": {"deployment_id": str(deployment.id), "job": job["name"]},
            "metadata": {"deployment": deployment.name, "job": job["name"]},
        }
        if job.get("queue"):
            item["queue"] = job["queue"]
        if retry.get("max_attempts"):
            item["max_retries"] = max(0, int(retry["max_attempts"]) - 1)
        recurring.append(item)
    jobs_replace_recurring_for_owner(owner=deployment_job_owner(deployment.id), recurring=recurring)


def _execution_finish(
    execution: Execution, *, exit_code: int, output: str, error: str
) -> Execution | None:
    """Record a running execution's outcome; a run the sweep already declared lost keeps that
    verdict (the late outcome is discarded and the row returned as it is)."""
    succeeded = exit_code == 0
    outcome = {
        "status": Execution.Status.COMPLETED if succeeded else Execution.Status.FAILED,
        "exit_code": exit_code,
        "output": output,
        "error": error,
        "completed_at": timezone.now(),
    }
    with transaction.atomic():
        running = Execution.objects.filter(pk=execution.pk, status=Execution.Status.RUNNING)
        if not running.update(**outcome):
            logger.info("execution outcome discarded", extra={"execution": execution.pk})
            return Execution.objects.filter(pk=execution.pk).first()
        for name, value in outcome.items():
            setattr(execution, name, value)
        if execution.deployment_id:
            Deployment.objects.filter(pk=execution.deployment_id).update(
                status=Deployment.Status.COMPLETE if succeeded else Deployment.Status.FAILED,
                updated_at=timezone.now(),
            )
        emit(
            type="execution.completed" if succeeded else "execution.failed",
            source=SOURCE,
            data={
                "execution_id": execution.id,
                "deployment_id": str(execution.deployment_ref),
                "exit_code": exit_code,
                "error": error,
            },
        )
    return execution


def _execution_deadline_seconds() -> int:
    """How long a running execution may take before the sweep declares its worker lost: the
    interpreter's own limits, plus a margin for the database work around them."""
    return settings.CODEAI_DSL_TIMEOUT_SECONDS + settings.CODEAI_EXEC_TIMEOUT_SECONDS + 60


def executions_sweep(*, limit: int = 200) -> dict[str, int]:
    """Beat: publish again pending executions whose message was lost (broker restarted, worker
    killed holding it), and fail running ones past every time limit (their worker died)."""
    now = timezone.now()
    requeue_before = now - timedelta(seconds=settings.CODEAI_EXECUTION_REQUEUE_AFTER_SECONDS)
    republished = 0
    # Rows from before these columns existed count from their creation (`started_at`).
    stale = Q(enqueued_at__lt=requeue_before) | Q(
        enqueued_at__isnull=True, started_at__lt=requeue_before
    )
    for execution_id, enqueued_at in Execution.objects.filter(
        stale, status=Execution.Status.PENDING
    ).values_list("id", "enqueued_at")[:limit]:
        # Conditional, so two sweeps never publish the same execution twice.
        if Execution.objects.filter(
            pk=execution_id, status=Execution.Status.PENDING, enqueued_at=enqueued_at
        ).update(enqueued_at=now):
            _enqueue_execution(execution_id)
            republished += 1
    deadline = _execution_deadline_seconds()
    lost = 0
    lost_before = now - timedelta(seconds=deadline)
    overdue = Q(run_started_at__lt=lost_before) | Q(
        run_started_at__isnull=True, started_at__lt=lost_before
    )
    for execution in Execution.objects.filter(overdue, status=Execution.Status.RUNNING)[:limit]:
        error = f"worker lost: the execution did not finish within {deadline}s"
        finished = _execution_finish(execution, exit_code=1, output=execution.output, error=error)
        lost += finished is not None and finished.error == error
    counts = {"republished": republished, "lost": lost}
    if any(counts.values()):
        logger.info("executions sweep", extra=counts)
    return counts
