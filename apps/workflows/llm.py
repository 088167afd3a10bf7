"""The project's LLM client: OpenAI-compatible Chat Completions over requests.

`chat_complete()` sends `POST {CODEAI_LLM_BASE_URL}/chat/completions` (bearer
`CODEAI_LLM_API_KEY` when set). Every request has a timeout: the smaller of
`CODEAI_LLM_TIMEOUT_SECONDS` and what is left of the caller's `timeout` budget. 429 and 5xx
answers, timeouts and connection errors are retried `retries` times (default
`CODEAI_LLM_MAX_RETRIES`) with exponential backoff, honouring `Retry-After` up to
`CODEAI_LLM_RETRY_AFTER_MAX_SECONDS`; other 4xx answers are not retried.

The built-in model `echo` answers offline and deterministically with the last user message, so
pipelines can be tried and benchmarked without a provider. Any other model without
`CODEAI_LLM_BASE_URL` raises `LLMNotConfigured`.
"""

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.conf import settings

ECHO_MODEL = "echo"
_BACKOFF_BASE_SECONDS = 0.5


@dataclass(frozen=True)
class ChatResult:
    text: str
    usage: dict[str, Any] | None = None
    model: str = ""
    finish_reason: str | None = None


class LLMError(Exception):
    """A failed completion. `retryable` says whether trying again may help."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        status: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

    def __str__(self) -> str:
        return self.message


class LLMNotConfigured(LLMError):
    pass


class LLMTimeout(LLMError):
    pass


def _echo(model: str, messages: list[dict[str, Any]]) -> ChatResult:
    users = [m.get("content") or "" for m in messages if m.get("role") == "user"]
    text = str(users[-1]) if users else ""
    prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in messages)
    completion_tokens = len(text.split())
    return ChatResult(
        text=text,
        usage={
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        model=model,
        finish_reason="stop",
    )


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, float(settings.CODEAI_LLM_RETRY_AFTER_MAX_SECONDS)))


def _post_once(url: str, body: dict, headers: dict, timeout: float) -> ChatResult:
    try:
        response = requests.post(
            url, json=body, headers=headers, timeout=timeout, allow_redirects=False
        )
    except requests.Timeout:
        raise LLMError(f"LLM provider timed out after {timeout:g}s") from None
    except requests.RequestException as exc:
        raise LLMError(f"LLM provider unreachable: {type(exc).__name__}") from None
    if response.status_code != 200:
        retryable = response.status_code == 429 or response.status_code >= 500
        raise LLMError(
            f"LLM provider returned HTTP {response.status_code}: {response.text[:200]}",
            retryable=retryable,
            retry_after=_retry_after(response) if retryable else None,
            status=response.status_code,
        )
    try:
        data = response.json()
        choice = data["choices"][0]
        text = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMError("LLM provider returned an unexpected response", retryable=False) from None
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    return ChatResult(
        text=text if isinstance(text, str) else str(text or ""),
        usage=usage,
        model=str(data.get("model") or body["model"]),
        finish_reason=choice.get("finish_reason"),
    )


def chat_complete(
    *,
    model: str,
    messages: list[dict[str, Any]],
    max_tokens: int | None = None,
    temperature: float | None = None,
    timeout: float | None = None,
    retries: int | None = None,
) -> ChatResult:
    """One chat completion. `timeout` bounds the whole call, retries and waits included."""
    if model == ECHO_MODEL:
        return _echo(model, messages)
    base_url = settings.CODEAI_LLM_BASE_URL
    if not base_url:
        raise LLMNotConfigured(
            f'no LLM provider configured for model "{model}": set CODEAI_LLM_BASE_URL',
            retryable=False,
        )
    body: dict[str, Any] = {"model": model, "messages": messages}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    headers = {"Accept": "application/json"}
    if settings.CODEAI_LLM_API_KEY:
        headers["Authorization"] = f"Bearer {settings.CODEAI_LLM_API_KEY}"
    url = f"{base_url.rstrip('/')}/chat/completions"
    per_request = float(settings.CODEAI_LLM_TIMEOUT_SECONDS)
    deadline = time.monotonic() + timeout if timeout is not None else None
    attempts_left = (settings.CODEAI_LLM_MAX_RETRIES if retries is None else retries) + 1
    attempt = 0
    while True:
        attempt += 1
        attempts_left -= 1
        remaining = deadline - time.monotonic() if deadline is not None else per_request
        if remaining <= 0:
            raise LLMTimeout(f"LLM call timed out after {timeout:g}s")
        try:
            return _post_once(url, body, headers, min(per_request, remaining))
        except LLMError as exc:
            if not exc.retryable or attempts_left <= 0:
                raise
            wait = exc.retry_after
            if wait is None:
                wait = _BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
            if deadline is not None and time.monotonic() + wait >= deadline:
                raise
            time.sleep(wait)
