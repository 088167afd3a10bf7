"""From a start request to a plan: validate `workflowType` and `input`, build the steps.

A plan is what a run follows, frozen into `WorkflowRun.definition` at start:
`{"kind", "steps": [{name, kind, group, spec, timeoutSeconds, retryPolicy, condition}], ...}`.
Steps sharing a `group` run together; groups run in order. Every validation message names its
field the way the API does (`input.agents.0.name`), with the project's exact wording.
"""

import random
import re
from typing import Any

from django.conf import settings

from codeai.api.durations import format_duration, parse_duration
from codeai.api.exceptions import ValidationFailed

from .models import WorkflowRun

BUILTIN_TYPES = ("ai-pipeline", "test-suite")
AGENT_TYPES = ("llm", "code-analysis", "test-generator", "documentation")
TEST_KINDS = ("http", "agent", "dsl")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_AGENTS = 50
MAX_TEST_CASES = 500
MAX_NAME = 255
MAX_TEXT = 200_000

# Temporal's defaults, except maximumAttempts (Temporal: unlimited) and jitter (Temporal: none).
DEFAULT_RETRY_POLICY = {
    "initialIntervalSeconds": 1.0,
    "backoffCoefficient": 2.0,
    "maximumIntervalSeconds": 100.0,
    "maximumAttempts": 3,
    "jitter": 0.1,
}
NO_RETRY_POLICY = {**DEFAULT_RETRY_POLICY, "maximumAttempts": 1}
RETRY_FIELDS = (
    "initialInterval",
    "backoffCoefficient",
    "maximumInterval",
    "maximumAttempts",
    "jitter",
)
DURATION_MESSAGE = "must be a duration like 500ms, 30s, 5m or 1h30m"


class _Checker:
    """Collects field errors (first one per field wins) while reading a JSON object."""

    def __init__(self) -> None:
        self.details: dict[str, str] = {}

    def add(self, path: str, message: str) -> None:
        self.details.setdefault(path, message)

    def raise_if_any(self) -> None:
        if self.details:
            raise ValidationFailed(self.details)

    def unknown(self, obj: dict, allowed: tuple[str, ...] | set[str], path: str) -> None:
        for key in obj:
            if key not in allowed:
                self.add(f"{path}.{key}", "unknown field")

    def object(self, obj: dict, key: str, path: str, *, required: bool = False) -> dict | None:
        if key not in obj or obj[key] is None:
            if required:
                self.add(f"{path}.{key}", "is required")
            return None
        if not isinstance(obj[key], dict):
            self.add(f"{path}.{key}", "must be an object")
            return None
        return obj[key]

    def string(
        self,
        obj: dict,
        key: str,
        path: str,
        *,
        required: bool = False,
        max_length: int = MAX_TEXT,
        choices: tuple[str, ...] | None = None,
        default: str | None = None,
    ) -> str | None:
        field = f"{path}.{key}"
        if key not in obj or obj[key] is None:
            if required:
                self.add(field, "is required")
            return default
        value = obj[key]
        if not isinstance(value, str):
            self.add(field, "must be a string")
            return default
        if choices is not None and value not in choices:
            self.add(field, f"must be one of: {' '.join(choices)}")
            return default
        if required and not value.strip():
            self.add(field, "must be at least 1 characters")
            return default
        if len(value) > max_length:
            self.add(field, f"must be at most {max_length} characters")
            return default
        return value

    def boolean(self, obj: dict, key: str, path: str, *, default: bool = False) -> bool:
        if key not in obj or obj[key] is None:
            return default
        if not isinstance(obj[key], bool):
            self.add(f"{path}.{key}", "must be a boolean")
            return default
        return obj[key]

    def integer(self, obj: dict, key: str, path: str, *, minimum: int, maximum: int) -> int | None:
        if key not in obj or obj[key] is None:
            return None
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(f"{path}.{key}", "must be an integer")
            return None
        if value < minimum:
            self.add(f"{path}.{key}", f"must be at least {minimum}")
            return None
        if value > maximum:
            self.add(f"{path}.{key}", f"must be at most {maximum}")
            return None
        return value

    def number(
        self, obj: dict, key: str, path: str, *, minimum: float, maximum: float
    ) -> float | None:
        if key not in obj or obj[key] is None:
            return None
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            self.add(f"{path}.{key}", "must be a number")
            return None
        if not minimum <= value <= maximum:
            self.add(f"{path}.{key}", f"must be between {minimum:g} and {maximum:g}")
            return None
        return float(value)

    def duration(
        self, obj: dict, key: str, path: str, *, maximum: float | None = None
    ) -> float | None:
        if key not in obj or obj[key] is None:
            return None
        value = obj[key]
        try:
            seconds = parse_duration(value).total_seconds()
        except ValueError:
            self.add(f"{path}.{key}", DURATION_MESSAGE)
            return None
        if maximum is not None and seconds > maximum:
            self.add(f"{path}.{key}", f"must be at most {_seconds_text(maximum)}")
            return None
        return seconds

    def retry_policy(self, obj: dict, key: str, path: str) -> dict | None:
        """A Temporal-style policy; the fields given override the defaults."""
        raw = self.object(obj, key, path)
        if raw is None:
            return None
        where = f"{path}.{key}"
        self.unknown(raw, RETRY_FIELDS, where)
        policy: dict[str, Any] = {}
        initial = self.duration(raw, "initialInterval", where)
        maximum = self.duration(raw, "maximumInterval", where)
        coefficient = self.number(raw, "backoffCoefficient", where, minimum=1, maximum=100)
        attempts = self.integer(raw, "maximumAttempts", where, minimum=1, maximum=100)
        jitter = self.number(raw, "jitter", where, minimum=0, maximum=1)
        for name, value in (
            ("initialIntervalSeconds", initial),
            ("maximumIntervalSeconds", maximum),
            ("backoffCoefficient", coefficient),
            ("maximumAttempts", attempts),
            ("jitter", jitter),
        ):
            if value is not None:
                policy[name] = value
        if initial is not None and maximum is None:
            # Temporal: the maximum interval defaults to 100 × the initial interval.
            policy["maximumIntervalSeconds"] = initial * 100
        if initial is not None and maximum is not None and maximum < initial:
            self.add(f"{where}.maximumInterval", "must be at least initialInterval")
        return policy


def _seconds_text(seconds: float) -> str:
    return format_duration(seconds) or "0s"


def merged_policy(*layers: dict | None) -> dict:
    """Defaults, then each layer in order (run policy, then step policy)."""
    policy = dict(DEFAULT_RETRY_POLICY)
    for layer in layers:
        if layer:
            policy.update(layer)
    if policy["maximumIntervalSeconds"] < policy["initialIntervalSeconds"]:
        policy["maximumIntervalSeconds"] = policy["initialIntervalSeconds"]
    return policy


def retry_delay(policy: dict, *, attempt: int) -> float:
    """Seconds to wait before attempt `attempt + 1`: exponential, capped, with ± jitter."""
    base = policy["initialIntervalSeconds"] * policy["backoffCoefficient"] ** (attempt - 1)
    delay = min(base, policy["maximumIntervalSeconds"])
    jitter = policy.get("jitter") or 0.0
    if jitter:
        delay *= 1 + random.uniform(-jitter, jitter)  # spreads retries; not security-related
    return max(delay, 0.0)


def _step_timeout(checker: _Checker, obj: dict, path: str, default: float) -> float:
    maximum = float(settings.CODEAI_WORKFLOW_MAX_STEP_TIMEOUT_SECONDS)
    return checker.duration(obj, "timeout", path, maximum=maximum) or default


def _run_timeout(checker: _Checker, obj: dict, path: str) -> float | None:
    return checker.duration(obj, "timeout", path)


# --- ai-pipeline -------------------------------------------------------------------------------

SINGLE_FIELDS = ("model", "prompt", "maxTokens", "system", "temperature", "timeout", "retryPolicy")
PIPELINE_FIELDS = ("agents", "parallel", "timeout", "retryPolicy")
AGENT_FIELDS = ("name", "type", "model", "prompt", "config", "timeout", "retryPolicy")


def _agent_settings(checker: _Checker, obj: dict, path: str) -> dict:
    return {
        "system": checker.string(obj, "system", path),
        "maxTokens": checker.integer(obj, "maxTokens", path, minimum=1, maximum=1_000_000),
        "temperature": checker.number(obj, "temperature", path, minimum=0, maximum=2),
    }


def _ai_pipeline_plan(checker: _Checker, data: dict) -> dict:
    path = "input"
    default_timeout = float(settings.CODEAI_WORKFLOW_STEP_TIMEOUT_SECONDS)
    run_policy = checker.retry_policy(data, "retryPolicy", path)
    run_timeout = _run_timeout(checker, data, path)
    steps: list[dict] = []
    if "agents" not in data:
        checker.unknown(data, SINGLE_FIELDS, path)
        spec = {
            "agentName": "agent",
            "agentType": "llm",
            "model": checker.string(data, "model", path, required=True, max_length=MAX_NAME),
            "prompt": checker.string(data, "prompt", path, required=True),
            "config": {},
            **_agent_settings(checker, data, path),
        }
        steps.append(_step("agent", "agent", 0, spec, default_timeout, merged_policy(run_policy)))
        return {"steps": steps, "timeoutSeconds": run_timeout, "single": True}

    checker.unknown(data, PIPELINE_FIELDS, path)
    parallel = checker.boolean(data, "parallel", path)
    agents = data.get("agents")
    if not isinstance(agents, list):
        checker.add(f"{path}.agents", "must be an array" if agents is not None else "is required")
        return {"steps": [], "timeoutSeconds": run_timeout}
    if not agents:
        checker.add(f"{path}.agents", "must not be empty")
    if len(agents) > MAX_AGENTS:
        checker.add(f"{path}.agents", f"must have at most {MAX_AGENTS} items")
    seen: set[str] = set()
    for index, agent in enumerate(agents[:MAX_AGENTS]):
        where = f"{path}.agents.{index}"
        if not isinstance(agent, dict):
            checker.add(where, "must be an object")
            continue
        checker.unknown(agent, AGENT_FIELDS, where)
        name = checker.string(agent, "name", where, required=True, max_length=MAX_NAME)
        if name is not None:
            if name in seen:
                checker.add(f"{where}.name", "must be unique")
            seen.add(name)
        config = checker.object(agent, "config", where) or {}
        spec = {
            "agentName": name,
            "agentType": checker.string(agent, "type", where, choices=AGENT_TYPES, default="llm"),
            "model": checker.string(agent, "model", where, required=True, max_length=MAX_NAME),
            "prompt": checker.string(agent, "prompt", where, required=True),
            "config": config,
            **_agent_settings(checker, config, f"{where}.config"),
        }
        policy = merged_policy(run_policy, checker.retry_policy(agent, "retryPolicy", where))
        timeout = _step_timeout(checker, agent, where, default_timeout)
        group = 0 if parallel else index
        steps.append(_step(name or f"agent-{index}", "agent", group, spec, timeout, policy))
    return {"steps": steps, "timeoutSeconds": run_timeout, "parallel": parallel}


# --- test-suite --------------------------------------------------------------------------------

SUITE_FIELDS = ("name", "testCases", "parallel", "stopOnFailure", "timeout")
CASE_FIELDS = ("id", "name", "kind", "input", "expected", "timeout", "tags")
CASE_INPUT_FIELDS = {
    "http": ("method", "url", "headers", "body"),
    "agent": ("model", "prompt", "system", "maxTokens", "temperature"),
    "dsl": ("source",),
}
CASE_EXPECTED_FIELDS = {
    "http": ("status", "json", "contains"),
    "agent": ("equals", "contains", "regex"),
    "dsl": ("valid", "errors"),
}


def _check_case_input(checker: _Checker, kind: str, data: dict, where: str) -> None:
    if kind == "http":
        from apps.webhooks.ssrf import UnsafeURLError, check_url

        method = checker.string(data, "method", where, default="GET")
        if method is not None and method.upper() not in HTTP_METHODS:
            checker.add(f"{where}.method", f"must be one of: {' '.join(HTTP_METHODS)}")
        url = checker.string(data, "url", where, required=True, max_length=2048)
        if url is not None:
            try:
                check_url(url, allow_private=True)  # the shape now; the address when sent
            except UnsafeURLError:
                checker.add(f"{where}.url", "must be a valid URL")
        headers = checker.object(data, "headers", where) or {}
        for name, value in headers.items():
            if not isinstance(value, str):
                checker.add(f"{where}.headers.{name}", "must be a string")
    elif kind == "agent":
        checker.string(data, "model", where, required=True, max_length=MAX_NAME)
        checker.string(data, "prompt", where, required=True)
        _agent_settings(checker, data, where)
    else:
        checker.string(data, "source", where, required=True)


def _check_case_expected(checker: _Checker, kind: str, data: dict, where: str) -> None:
    if kind == "http":
        checker.integer(data, "status", where, minimum=100, maximum=599)
        checker.string(data, "contains", where)
    elif kind == "agent":
        checker.string(data, "equals", where)
        checker.string(data, "contains", where)
        pattern = checker.string(data, "regex", where, max_length=2000)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error:
                checker.add(f"{where}.regex", "must be a valid regular expression")
    else:
        checker.boolean(data, "valid", where, default=True)
        errors = data.get("errors")
        if errors is not None and (
            not isinstance(errors, list) or not all(isinstance(e, str) for e in errors)
        ):
            checker.add(f"{where}.errors", "must be an array of strings")


def _test_suite_plan(checker: _Checker, data: dict) -> dict:
    path = "input"
    checker.unknown(data, SUITE_FIELDS, path)
    name = checker.string(data, "name", path, required=True, max_length=MAX_NAME)
    parallel = checker.boolean(data, "parallel", path)
    stop_on_failure = checker.boolean(data, "stopOnFailure", path)
    run_timeout = _run_timeout(checker, data, path)
    cases = data.get("testCases")
    steps: list[dict] = []
    plan = {
        "steps": steps,
        "timeoutSeconds": run_timeout,
        "suiteName": name,
        "parallel": parallel,
        "stopOnFailure": stop_on_failure,
    }
    if not isinstance(cases, list):
        checker.add(f"{path}.testCases", "must be an array" if cases is not None else "is required")
        return plan
    if not cases:
        checker.add(f"{path}.testCases", "must not be empty")
    if len(cases) > MAX_TEST_CASES:
        checker.add(f"{path}.testCases", f"must have at most {MAX_TEST_CASES} items")
    default_timeout = float(settings.CODEAI_WORKFLOW_TEST_CASE_TIMEOUT_SECONDS)
    seen: set[str] = set()
    for index, case in enumerate(cases[:MAX_TEST_CASES]):
        where = f"{path}.testCases.{index}"
        if not isinstance(case, dict):
            checker.add(where, "must be an object")
            continue
        checker.unknown(case, CASE_FIELDS, where)
        case_id = checker.string(case, "id", where, required=True, max_length=MAX_NAME)
        if case_id is not None:
            if case_id in seen:
                checker.add(f"{where}.id", "must be unique")
            seen.add(case_id)
        case_name = checker.string(case, "name", where, max_length=MAX_NAME) or case_id
        kind = checker.string(case, "kind", where, choices=TEST_KINDS)
        if kind is None and case.get("kind") is None:
            kind = "http"
        case_input = checker.object(case, "input", where, required=True)
        expected = checker.object(case, "expected", where) or {}
        if kind is not None and case_input is not None:
            checker.unknown(case_input, CASE_INPUT_FIELDS[kind], f"{where}.input")
            _check_case_input(checker, kind, case_input, f"{where}.input")
        if kind is not None:
            checker.unknown(expected, CASE_EXPECTED_FIELDS[kind], f"{where}.expected")
            _check_case_expected(checker, kind, expected, f"{where}.expected")
        tags = case.get("tags")
        if tags is not None and (
            not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
        ):
            checker.add(f"{where}.tags", "must be an array of strings")
        timeout = _step_timeout(checker, case, where, default_timeout)
        spec = {
            "id": case_id,
            "name": case_name,
            "kind": kind,
            "input": case_input or {},
            "expected": expected,
            "tags": tags or [],
            "timeoutSeconds": timeout,
        }
        group = 0 if parallel else index
        steps.append(
            _step(case_id or f"case-{index}", "test", group, spec, timeout, NO_RETRY_POLICY)
        )
    return plan


# --- deployed workflows ------------------------------------------------------------------------


def _no_deployed_workflow(workflow_type: str) -> ValidationFailed:
    return ValidationFailed({"workflowType": f"no deployed workflow named {workflow_type}"})


def find_deployed_workflow(workflow_type: str) -> tuple[Any, dict]:
    """(deployment, workflow declaration) for `<deployment name>/<workflow name>`, else a 400.

    The deployment must have a completed execution; its config is parsed and its top-level
    workflow declarations collected (apps.dsl.interpreter.collect_declarations).
    """
    from apps.deployments.models import Deployment, Execution
    from apps.dsl.compiler import DslSyntaxError, parse
    from apps.dsl.interpreter import collect_declarations

    deployment_name, _, workflow_name = workflow_type.rpartition("/")
    deployment = (
        Deployment.objects.select_related("config").filter(name=deployment_name).first()
        if deployment_name and workflow_name
        else None
    )
    if deployment is None or deployment.config is None:
        raise _no_deployed_workflow(workflow_type)
    executed = Execution.objects.filter(
        deployment=deployment, status=Execution.Status.COMPLETED
    ).exists()
    if not executed:
        raise _no_deployed_workflow(workflow_type)
    try:
        declarations = collect_declarations(parse(deployment.config.content))
    except DslSyntaxError:
        raise _no_deployed_workflow(workflow_type) from None
    for workflow in declarations["workflows"]:
        if workflow["name"] == workflow_name:
            return deployment, workflow
    raise _no_deployed_workflow(workflow_type)


def _declared_policy(retry: dict | None) -> dict:
    layer: dict[str, Any] = {}
    if retry:
        if retry.get("max_attempts"):
            layer["maximumAttempts"] = max(1, min(int(retry["max_attempts"]), 100))
        if retry.get("initial_interval"):
            try:
                initial = parse_duration(retry["initial_interval"]).total_seconds()
            except ValueError:
                raise ValidationFailed(
                    {"workflowType": "the declared retry initial_interval is not a duration"}
                ) from None
            layer["initialIntervalSeconds"] = initial
            layer["maximumIntervalSeconds"] = initial * 100
        if retry.get("backoff_multiplier"):
            layer["backoffCoefficient"] = max(1.0, float(retry["backoff_multiplier"]))
    return merged_policy(layer)


def _deployed_plan(checker: _Checker, workflow_type: str, data: dict) -> dict:
    deployment, workflow = find_deployed_workflow(workflow_type)
    policy = _declared_policy(workflow.get("retry"))
    run_timeout = None
    if workflow.get("timeout"):
        try:
            run_timeout = parse_duration(workflow["timeout"]).total_seconds()
        except ValueError:
            raise ValidationFailed(
                {"workflowType": "the declared timeout is not a duration"}
            ) from None
    timeout = float(settings.CODEAI_WORKFLOW_STEP_TIMEOUT_SECONDS)
    steps: list[dict] = []
    for group, entry in enumerate(workflow["steps"]):
        members = entry["steps"] if entry["type"] == "parallel" else [entry]
        for member in members:
            spec = {
                "stepName": member["name"],
                "form": workflow["form"],
                "activity": member["activity"],
                "args": member["args"],
                "input": member["input"],
            }
            kind = "agent" if _is_agent_activity(member["activity"]) else "activity"
            step = _step(member["name"], kind, group, spec, timeout, policy)
            step["condition"] = member.get("condition")
            steps.append(step)
    return {
        "steps": steps,
        "timeoutSeconds": run_timeout,
        "deployment": {"id": str(deployment.id), "name": deployment.name},
        "workflowName": workflow["name"],
        "trigger": workflow.get("trigger"),
    }


def _is_agent_activity(activity: str) -> bool:
    return activity in ("Agent", "agent", "llm")


# --- entry point -------------------------------------------------------------------------------


def _step(name: str, kind: str, group: int, spec: dict, timeout: float, policy: dict) -> dict:
    return {
        "name": name,
        "kind": kind,
        "group": group,
        "spec": spec,
        "timeoutSeconds": timeout,
        "retryPolicy": policy,
        "condition": None,
    }


def workflow_plan(*, workflow_type: str, input: dict) -> dict:
    """Validate and plan; raises ValidationFailed with field-level details."""
    checker = _Checker()
    if workflow_type in BUILTIN_TYPES:
        kind = workflow_type
        builder = _ai_pipeline_plan if kind == WorkflowRun.Kind.AI_PIPELINE else _test_suite_plan
        plan = builder(checker, input)
    elif "/" in workflow_type:
        kind = WorkflowRun.Kind.DEPLOYED
        plan = _deployed_plan(checker, workflow_type, input)
    else:
        raise ValidationFailed({"workflowType": f"must be one of: {' '.join(BUILTIN_TYPES)}"})
    checker.raise_if_any()
    plan["kind"] = str(kind)
    return plan
