"""A closed run's `output`, built from its steps (shapes in docs/workflows.md)."""

from datetime import datetime
from typing import Any

from django.utils import timezone

from ..models import WorkflowRun, WorkflowStep


def _duration_ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds() * 1000))


# --- output ------------------------------------------------------------------------------------


def _agent_entry(step: WorkflowStep) -> dict[str, Any]:
    output = step.output or {}
    entry: dict[str, Any] = {
        "agentName": step.name,
        "status": step.status,
        "output": output.get("output"),
        "error": step.error or None,
        "durationMs": _duration_ms(step.started_at, step.completed_at),
        "attempts": step.attempts,
    }
    if output.get("tokens") is not None:
        entry["tokens"] = output["tokens"]
    return entry


def _case_entry(step: WorkflowStep, run: WorkflowRun) -> dict[str, Any]:
    output = step.output or {}
    status = output.get("status")
    reason = output.get("reason")
    if status is None:  # never ran to a verdict: stopOnFailure, cancel, run timeout
        status = "skipped"
        reason = step.error or reason or "not run"
    return {
        "id": step.input.get("id"),
        "name": step.input.get("name"),
        "status": status,
        "reason": reason,
        "durationMs": _duration_ms(step.started_at, step.completed_at),
    }


def _build_output(run: WorkflowRun, steps: list[WorkflowStep]) -> dict[str, Any]:
    if run.kind == WorkflowRun.Kind.TEST_SUITE:
        results = [_case_entry(step, run) for step in steps]
        return {
            "name": run.definition.get("suiteName"),
            "total": len(results),
            "passed": sum(1 for r in results if r["status"] == "passed"),
            "failed": sum(1 for r in results if r["status"] == "failed"),
            "skipped": sum(1 for r in results if r["status"] == "skipped"),
            "durationMs": _duration_ms(run.started_at, run.completed_at or timezone.now()),
            "results": results,
        }
    if run.kind == WorkflowRun.Kind.AI_PIPELINE:
        agents = [_agent_entry(step) for step in steps]
        output: dict[str, Any] = {"agents": agents}
        if run.definition.get("single") and agents:
            output["output"] = agents[0]["output"]
            if "tokens" in agents[0]:
                output["tokens"] = agents[0]["tokens"]
        return output
    return {
        "steps": [
            {
                "stepName": step.name,
                "activity": step.input.get("activity"),
                "status": step.status,
                "output": (step.output or {}).get("output"),
                "error": step.error or None,
                "durationMs": _duration_ms(step.started_at, step.completed_at),
                "attempts": step.attempts,
            }
            for step in steps
        ]
    }
