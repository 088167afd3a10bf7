"""The LLM client against a local OpenAI-compatible server."""

import json

import pytest
from werkzeug import Response

from apps.workflows.llm import ChatResult, LLMError, LLMNotConfigured, chat_complete
from tests.workflows.conftest import completion

USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def provider(httpserver, settings):
    settings.CODEAI_LLM_BASE_URL = httpserver.url_for("/v1")
    settings.CODEAI_LLM_API_KEY = "sk-test"
    return httpserver


def test_echo_answers_with_the_last_user_message_offline(settings):
    settings.CODEAI_LLM_BASE_URL = ""
    result = chat_complete(model="echo", messages=[{"role": "system", "content": "s"}, *USER])
    assert result.text == "hello"
    assert result.usage == {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}


def test_a_model_without_provider_raises_a_clear_error(settings):
    settings.CODEAI_LLM_BASE_URL = ""
    with pytest.raises(LLMNotConfigured) as error:
        chat_complete(model="gpt-4", messages=USER)
    assert (
        str(error.value) == 'no LLM provider configured for model "gpt-4": set CODEAI_LLM_BASE_URL'
    )
    assert error.value.retryable is False


def test_sends_model_messages_options_and_bearer_key(provider):
    provider.expect_request(
        "/v1/chat/completions",
        method="POST",
        headers={"Authorization": "Bearer sk-test"},
        json={"model": "m", "messages": USER, "max_tokens": 5, "temperature": 0.5},
    ).respond_with_json(completion("hi there", model="m"))
    result = chat_complete(model="m", messages=USER, max_tokens=5, temperature=0.5)
    assert isinstance(result, ChatResult)
    assert (result.text, result.model) == ("hi there", "m")
    assert result.usage["total_tokens"] == 9


def test_retries_429_honouring_retry_after(provider):
    provider.expect_ordered_request("/v1/chat/completions").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "0"})
    )
    provider.expect_ordered_request("/v1/chat/completions").respond_with_json(completion("ok"))
    assert chat_complete(model="m", messages=USER, retries=1).text == "ok"


def test_retries_5xx_then_gives_up_with_the_status(provider):
    provider.expect_request("/v1/chat/completions").respond_with_data("down", status=502)
    with pytest.raises(LLMError) as error:
        chat_complete(model="m", messages=USER, retries=0)
    assert str(error.value) == "LLM provider returned HTTP 502: down"
    assert error.value.retryable is True


def test_a_4xx_other_than_429_is_not_retried(provider):
    provider.expect_oneshot_request("/v1/chat/completions").respond_with_data("bad", status=400)
    with pytest.raises(LLMError) as error:
        chat_complete(model="m", messages=USER, retries=3)
    assert error.value.retryable is False
    assert len(provider.log) == 1


def test_retry_after_is_capped(provider, settings):
    settings.CODEAI_LLM_RETRY_AFTER_MAX_SECONDS = 0
    provider.expect_request("/v1/chat/completions").respond_with_response(
        Response("", status=503, headers={"Retry-After": "3600"})
    )
    with pytest.raises(LLMError) as error:
        chat_complete(model="m", messages=USER, retries=0)
    assert error.value.retry_after == 0


def test_a_malformed_answer_is_a_non_retryable_error(provider):
    provider.expect_request("/v1/chat/completions").respond_with_data(
        json.dumps({"choices": []}), content_type="application/json"
    )
    with pytest.raises(LLMError) as error:
        chat_complete(model="m", messages=USER)
    assert str(error.value) == "LLM provider returned an unexpected response"
    assert error.value.retryable is False


def test_an_unreachable_provider_is_a_retryable_error(settings):
    settings.CODEAI_LLM_BASE_URL = "http://127.0.0.1:9/v1"
    with pytest.raises(LLMError) as error:
        chat_complete(model="m", messages=USER, retries=0)
    assert str(error.value).startswith("LLM provider unreachable")
    assert error.value.retryable is True
