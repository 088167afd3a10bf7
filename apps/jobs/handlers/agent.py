"""`agent.run`: one LLM chat completion.

Payload: `model` and `prompt` (required), `system`, `max_tokens`, `temperature`. The built-in
model `echo` answers offline and deterministically (its output is the prompt). Any other model
is sent to the OpenAI-compatible Chat Completions endpoint at `CODEAI_LLM_BASE_URL` (with
`CODEAI_LLM_API_KEY` as a bearer token); without a base URL the job fails with a clear message.
"""

from typing import Any

import requests
from django.conf import settings

from codeai.api.durations import format_duration

from .base import JobContext, JobError, JobTimeout, PermanentJobError

ECHO_MODEL = "echo"
PAYLOAD_FIELDS = frozenset({"model", "prompt", "system", "max_tokens", "temperature"})
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})


def validate_payload(payload: Any) -> dict[str, str]:
    if not isinstance(payload, dict):
        return {"": "must be an object"}
    errors: dict[str, str] = {}
    for name in sorted(set(payload) - PAYLOAD_FIELDS):
        errors[name] = "unknown field"
    for name in ("model", "prompt"):
        if name not in payload:
            errors[name] = "is required"
        elif not isinstance(payload[name], str) or not payload[name].strip():
            errors[name] = "must be a non-empty string"
    if "system" in payload and not isinstance(payload["system"], str):
        errors["system"] = "must be a string"
    max_tokens = payload.get("max_tokens", 1)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        errors["max_tokens"] = "must be a positive integer"
    temperature = payload.get("temperature", 0)
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 2
    ):
        errors["temperature"] = "must be a number between 0 and 2"
    return errors


def _words(text: str) -> int:
    return len(text.split())


def _echo(payload: dict[str, Any]) -> dict[str, Any]:
    prompt_tokens = _words(payload["prompt"]) + _words(payload.get("system", ""))
    output = payload["prompt"]
    return {
        "model": ECHO_MODEL,
        "output": output,
        "finish_reason": "stop",
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _words(output),
            "total_tokens": prompt_tokens + _words(output),
        },
    }


def _chat_completion(payload: dict[str, Any], context: JobContext) -> dict[str, Any]:
    model = payload["model"]
    base_url = settings.CODEAI_LLM_BASE_URL
    if not base_url:
        raise PermanentJobError(
            f"model {model} is not available: no LLM provider is configured "
            "(set CODEAI_LLM_BASE_URL to an OpenAI-compatible endpoint)"
        )
    messages = []
    if payload.get("system"):
        messages.append({"role": "system", "content": payload["system"]})
    messages.append({"role": "user", "content": payload["prompt"]})
    body: dict[str, Any] = {"model": model, "messages": messages}
    for name in ("max_tokens", "temperature"):
        if name in payload:
            body[name] = payload[name]
    headers = {"Accept": "application/json"}
    if settings.CODEAI_LLM_API_KEY:
        headers["Authorization"] = f"Bearer {settings.CODEAI_LLM_API_KEY}"
    remaining = context.remaining()
    timeout = min(float(settings.CODEAI_LLM_TIMEOUT_SECONDS), remaining)
    if timeout <= 0:
        raise JobTimeout("timed out")
    url = f"{base_url.rstrip('/')}/chat/completions"
    try:
        response = requests.post(url, json=body, headers=headers, timeout=timeout)
    except requests.Timeout:
        if timeout >= remaining:
            raise JobTimeout("timed out") from None
        raise JobError(f"LLM provider timed out after {format_duration(timeout)}") from None
    except requests.RequestException as exc:
        raise JobError(f"LLM provider unreachable: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        message = f"LLM provider returned HTTP {response.status_code}: {response.text[:200]}"
        if 400 <= response.status_code < 500 and response.status_code not in RETRYABLE_STATUSES:
            raise PermanentJobError(message)
        raise JobError(message)
    try:
        data = response.json()
        choice = data["choices"][0]
        output = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise JobError("LLM provider returned an unexpected response") from None
    return {
        "model": data.get("model") or model,
        "output": output,
        "finish_reason": choice.get("finish_reason"),
        "usage": data.get("usage"),
    }


def agent_run(payload: Any, context: JobContext) -> dict[str, Any]:
    errors = validate_payload(payload)
    if errors:
        detail = "; ".join(f"{k or 'payload'}: {v}" for k, v in sorted(errors.items()))
        raise PermanentJobError(f"invalid payload: {detail}")
    if payload["model"] == ECHO_MODEL:
        return _echo(payload)
    return _chat_completion(payload, context)
