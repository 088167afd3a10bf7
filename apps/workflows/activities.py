"""What a step does: agent calls, test cases, declared activities. No database access here.

`execute(kind, spec, deadline=...)` returns the step's output (a JSON object) or raises
`StepFailure`. `deadline` is a `time.monotonic()` value every outbound call is bounded by. The
engine (services.py) runs this in a helper thread so it can stop waiting on cancel or timeout.
"""

import json
import re
import time
from typing import Any

import requests
from django.conf import settings

from . import llm

MAX_RESPONSE_BYTES = 1024 * 1024
_QUOTE_LIMIT = 120
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")

# Agent types: a system prompt and a frame around the user's prompt (config keys fill the gaps).
AGENT_TEMPLATES: dict[str, tuple[str | None, str]] = {
    "llm": (None, "{prompt}"),
    "code-analysis": (
        "You are a senior software engineer reviewing code. Report bugs, security issues, "
        "performance problems and maintainability concerns, most severe first; for each, name "
        "the construct it concerns and suggest a fix. Be concise and do not invent code that "
        "is not shown.",
        "Analyze the following {language}code{focus}.\n\n{prompt}",
    ),
    "test-generator": (
        "You are an expert in software testing. Write complete, runnable automated tests that "
        "cover normal cases, edge cases and error handling. Answer with the test code only, "
        "followed by a short list of what the tests cover.",
        "Write {framework}tests for the following code.\n\n{prompt}",
    ),
    "documentation": (
        "You are a technical writer. Write clear, accurate documentation for developers: "
        "purpose, usage with examples, parameters, return values and errors. Use Markdown.",
        "Write {audience}documentation for the following.\n\n{prompt}",
    ),
}


class StepFailure(Exception):
    """The step failed; `retryable` tells the engine whether its retry policy applies."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


class StepTimedOut(Exception):
    pass


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise StepTimedOut()
    return left


def _quote(value: Any) -> str:
    """A short JSON rendering: strings quoted, other values as JSON, long ones cut."""
    text = value if isinstance(value, str) else json.dumps(value)
    text = text[:_QUOTE_LIMIT] + ("…" if len(text) > _QUOTE_LIMIT else "")
    return json.dumps(text, ensure_ascii=False) if isinstance(value, str) else text


def render_placeholders(text: str, context: dict[str, Any]) -> str:
    """Replace `{{input.x}}`, `{{previous.output}}`, `{{agents.NAME.output}}`; leave others."""
    if "{{" not in text:
        return text

    def lookup(match: re.Match) -> str:
        value: Any = context
        for part in match.group(1).split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return match.group(0)
        return value if isinstance(value, str) else json.dumps(value)

    return _PLACEHOLDER.sub(lookup, text)


# --- agents ------------------------------------------------------------------------------------


def agent_messages(spec: dict) -> list[dict[str, str]]:
    system, frame = AGENT_TEMPLATES.get(spec.get("agentType") or "llm", AGENT_TEMPLATES["llm"])
    config = spec.get("config") or {}

    def extra(key: str, suffix: str = " ", prefix: str = "") -> str:
        value = config.get(key)
        return f"{prefix}{value}{suffix}" if isinstance(value, str) and value else ""

    user = frame.format(
        prompt=spec["prompt"],
        language=extra("language"),
        focus=extra("focus", suffix="", prefix=", focusing on "),
        framework=extra("framework"),
        audience=extra("audience"),
    )
    system = spec.get("system") or system
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    return messages


def _llm_failure(exc: llm.LLMError) -> StepFailure:
    return StepFailure(exc.message, retryable=exc.retryable, retry_after=exc.retry_after)


def run_agent(spec: dict, *, deadline: float) -> dict[str, Any]:
    try:
        result = llm.chat_complete(
            model=spec["model"],
            messages=agent_messages(spec),
            max_tokens=spec.get("maxTokens"),
            temperature=spec.get("temperature"),
            timeout=_remaining(deadline),
            # The step's retry policy retries (visible as attempts); the client does not.
            retries=0,
        )
    except llm.LLMTimeout:
        raise StepTimedOut() from None
    except llm.LLMError as exc:
        if time.monotonic() >= deadline:
            raise StepTimedOut() from None
        raise _llm_failure(exc) from None
    output: dict[str, Any] = {"output": result.text, "model": result.model}
    if result.usage:
        output["tokens"] = result.usage
    return output


# --- test cases --------------------------------------------------------------------------------


def _json_mismatch(expected: Any, actual: Any, where: str = "$") -> str | None:
    """Where `actual` does not contain `expected` (objects: subset; arrays: element-wise)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected an object, got {_quote(actual)}"
        for key, value in expected.items():
            if key not in actual:
                return f"{where}.{key}: missing"
            problem = _json_mismatch(value, actual[key], f"{where}.{key}")
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{where}: expected an array of {len(expected)} items, got {_quote(actual)}"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            problem = _json_mismatch(want, got, f"{where}[{index}]")
            if problem:
                return problem
        return None
    same_kind = isinstance(expected, bool) == isinstance(actual, bool)
    if not same_kind or expected != actual:
        return f"{where}: expected {_quote(expected)}, got {_quote(actual)}"
    return None


def _read_body(response: requests.Response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            break
    response.close()
    return b"".join(chunks)[:MAX_RESPONSE_BYTES]


def _http_case(spec: dict, deadline: float) -> str | None:
    from apps.webhooks.ssrf import UnsafeURLError, safe_request

    data, expected = spec["input"], spec["expected"]
    body = data.get("body")
    kwargs: dict[str, Any] = {"headers": data.get("headers") or {}}
    if isinstance(body, str):
        kwargs["data"] = body.encode()
    elif body is not None:
        kwargs["json"] = body
    timeout = _remaining(deadline)
    try:
        response = safe_request(
            (data.get("method") or "GET").upper(),
            data["url"],
            allow_private=settings.CODEAI_WORKFLOW_HTTP_ALLOW_PRIVATE_URLS,
            timeout=timeout,
            stream=True,
            **kwargs,
        )
        content = _read_body(response)
    except UnsafeURLError as exc:
        return f"url refused: {exc}"
    except requests.Timeout:
        raise StepTimedOut() from None
    except requests.RequestException as exc:
        return f"request failed: {type(exc).__name__}"
    want_status = expected.get("status")
    if want_status is not None and response.status_code != want_status:
        return f"expected status {want_status}, got {response.status_code}"
    if want_status is None and not 200 <= response.status_code < 300:
        return f"expected a 2xx status, got {response.status_code}"
    text = content.decode(response.encoding or "utf-8", errors="replace")
    if expected.get("contains") is not None and expected["contains"] not in text:
        return f"response body does not contain {_quote(expected['contains'])}"
    if "json" in expected:
        try:
            document = json.loads(text)
        except ValueError:
            return "response body is not JSON"
        problem = _json_mismatch(expected["json"], document)
        if problem:
            return f"response JSON does not match: {problem}"
    return None


def _agent_case(spec: dict, deadline: float) -> str | None:
    data, expected = spec["input"], spec["expected"]
    try:
        result = llm.chat_complete(
            model=data["model"],
            messages=agent_messages({**data, "agentType": "llm"}),
            max_tokens=data.get("maxTokens"),
            temperature=data.get("temperature"),
            timeout=_remaining(deadline),
        )
    except llm.LLMTimeout:
        raise StepTimedOut() from None
    except llm.LLMError as exc:
        return f"agent call failed: {exc.message}"
    text = result.text
    if "equals" in expected and text.strip() != expected["equals"].strip():
        return f"expected output to equal {_quote(expected['equals'])}, got {_quote(text)}"
    if "contains" in expected and expected["contains"] not in text:
        return f"expected output to contain {_quote(expected['contains'])}, got {_quote(text)}"
    if "regex" in expected and not re.search(expected["regex"], text):
        return f"expected output to match /{expected['regex']}/, got {_quote(text)}"
    return None


def _dsl_case(spec: dict, deadline: float) -> str | None:
    from apps.dsl.compiler import compile_source

    data, expected = spec["input"], spec["expected"]
    _remaining(deadline)
    errors = compile_source(data["source"]).errors
    want_valid = expected.get("valid", True)
    if want_valid and errors:
        return f"expected the source to be valid, got {len(errors)} error(s): {errors[0]}"
    if not want_valid and not errors:
        return "expected the source to be invalid, but it compiled without errors"
    for fragment in expected.get("errors") or []:
        if not any(fragment in message for message in errors):
            return f"no error contains {_quote(fragment)}"
    return None


CASE_RUNNERS = {"http": _http_case, "agent": _agent_case, "dsl": _dsl_case}


def run_test_case(spec: dict, *, deadline: float) -> dict[str, Any]:
    """A case's verdict is data: `{"status": "passed"|"failed", "reason"}`; it never raises
    StepFailure (a failing case is a result, not an error to retry)."""
    reason = CASE_RUNNERS[spec["kind"]](spec, deadline)
    return {"status": "failed" if reason else "passed", "reason": reason}


# --- declared workflow steps -------------------------------------------------------------------


def _declared_agent(spec: dict, run_input: dict) -> dict:
    """Agent("model", "prompt") (short form) or `activity "agent"` with input model/prompt."""
    if spec["form"] == "short" and spec["args"]:
        args = spec["args"]
        model = args[0]
        prompt = args[1] if len(args) > 1 else None
    else:
        model = spec["input"].get("model")
        prompt = spec["input"].get("prompt")
    if prompt is None:
        prompt = run_input.get("prompt")
    name = spec["stepName"]
    if not isinstance(model, str) or not model:
        raise StepFailure(f'step "{name}": the agent needs a model name', retryable=False)
    if not isinstance(prompt, str) or not prompt:
        raise StepFailure(
            f'step "{name}": the agent has no prompt: pass it as the second argument of '
            "Agent(model, prompt) or as input.prompt when starting the workflow",
            retryable=False,
        )
    system = spec["input"].get("system")
    return {
        "agentName": name,
        "agentType": "llm",
        "model": model,
        "prompt": prompt,
        "system": system if isinstance(system, str) else None,
        "config": {},
    }


def run_declared_step(spec: dict, run_input: dict, *, deadline: float) -> dict[str, Any]:
    activity = spec["activity"]
    if activity in ("Agent", "agent", "llm"):
        return run_agent(_declared_agent(spec, run_input), deadline=deadline)
    raise StepFailure(f'unknown activity "{activity or spec["stepName"]}"', retryable=False)
