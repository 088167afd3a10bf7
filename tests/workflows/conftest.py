import json
import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


@pytest.fixture(autouse=True)
def workflow_settings(settings):
    """Fast polling, short default timeouts and retries, local HTTP targets allowed."""
    settings.CODEAI_WORKFLOW_CANCEL_POLL_SECONDS = 0.05
    settings.CODEAI_WORKFLOW_HTTP_ALLOW_PRIVATE_URLS = True
    settings.CODEAI_LLM_BASE_URL = ""
    settings.CODEAI_LLM_API_KEY = ""
    settings.CODEAI_LLM_MAX_RETRIES = 0
    return settings


def completion(text: str, *, model: str = "test-model", tokens: int = 7) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": tokens, "completion_tokens": 2, "total_tokens": tokens + 2},
    }


class FakeLLM:
    """An OpenAI-compatible Chat Completions server on a real local port.

    By default it answers `<model> says: <last user message>`. `script` holds one-shot answers
    (status, body, delay) consumed in order before the default applies; `delay` delays the
    default answer for prompts containing a marker.
    """

    def __init__(self, server: HTTPServer):
        self.server = server
        self.script: list[tuple[int, dict | str, float]] = []
        self.slow: dict[str, float] = {}
        self.requests: list[dict] = []
        self.answered = 0
        server.expect_request("/v1/chat/completions", method="POST").respond_with_handler(
            self.handle
        )

    @property
    def base_url(self) -> str:
        return self.server.url_for("/v1")

    def prompts(self) -> list[str]:
        return [r["messages"][-1]["content"] for r in self.requests]

    def handle(self, request: Request) -> Response:
        body = json.loads(request.get_data())
        self.requests.append({**body, "authorization": request.headers.get("Authorization")})
        if self.script:
            status, answer, delay = self.script.pop(0)
            time.sleep(delay)
            payload = answer if isinstance(answer, str) else json.dumps(answer)
            return Response(payload, status=status, content_type="application/json")
        prompt = body["messages"][-1]["content"]
        for marker, delay in self.slow.items():
            if marker in prompt:
                time.sleep(delay)
        answer = completion(f"{body['model']} says: {prompt}", model=body["model"])
        self.answered += 1
        return Response(json.dumps(answer), status=200, content_type="application/json")


@pytest.fixture
def llm(settings):
    server = HTTPServer(threaded=True)
    server.start()
    fake = FakeLLM(server)
    settings.CODEAI_LLM_BASE_URL = fake.base_url
    yield fake
    server.clear()
    if server.is_running():
        server.stop()
