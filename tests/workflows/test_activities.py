"""Step activities on their own: test-case verdicts, agent prompts, declared steps."""

import time

import pytest

from apps.workflows.activities import StepFailure, agent_messages, run_declared_step, run_test_case


def later(seconds: float = 10) -> float:
    return time.monotonic() + seconds


def http_case(url: str, **expected) -> dict:
    return {"kind": "http", "input": {"url": url}, "expected": expected}


def test_http_case_passes_on_status_json_subset_and_text(httpserver):
    httpserver.expect_request("/x").respond_with_json({"a": {"b": [1, 2]}, "c": True, "d": 1})
    case = http_case(
        httpserver.url_for("/x"), status=200, json={"a": {"b": [1, 2]}}, contains='"c"'
    )
    assert run_test_case(case, deadline=later()) == {"status": "passed", "reason": None}


def test_http_case_says_where_the_json_differs(httpserver):
    httpserver.expect_request("/x").respond_with_json({"a": {"b": 2}})
    result = run_test_case(
        http_case(httpserver.url_for("/x"), json={"a": {"b": 3}}), deadline=later()
    )
    assert result == {
        "status": "failed",
        "reason": "response JSON does not match: $.a.b: expected 3, got 2",
    }


def test_http_case_reports_a_missing_text(httpserver):
    httpserver.expect_request("/x").respond_with_data("hello")
    result = run_test_case(http_case(httpserver.url_for("/x"), contains="bye"), deadline=later())
    assert result["reason"] == 'response body does not contain "bye"'


def test_http_case_expects_2xx_by_default(httpserver):
    httpserver.expect_request("/x").respond_with_data("", status=404)
    result = run_test_case(http_case(httpserver.url_for("/x")), deadline=later())
    assert result["reason"] == "expected a 2xx status, got 404"


def test_http_case_sends_method_headers_and_json_body(httpserver):
    httpserver.expect_request(
        "/x", method="POST", headers={"X-Token": "t"}, json={"k": "v"}
    ).respond_with_data("", status=201)
    case = {
        "kind": "http",
        "input": {
            "method": "post",
            "url": httpserver.url_for("/x"),
            "headers": {"X-Token": "t"},
            "body": {"k": "v"},
        },
        "expected": {"status": 201},
    }
    assert run_test_case(case, deadline=later())["status"] == "passed"


def test_http_case_does_not_follow_redirects(httpserver):
    httpserver.expect_request("/x").respond_with_data("", status=302, headers={"Location": "/y"})
    result = run_test_case(http_case(httpserver.url_for("/x"), status=200), deadline=later())
    assert result["reason"] == "expected status 200, got 302"


def test_http_case_refuses_private_targets_unless_allowed(httpserver, settings):
    settings.CODEAI_WORKFLOW_HTTP_ALLOW_PRIVATE_URLS = False
    result = run_test_case(http_case(httpserver.url_for("/x")), deadline=later())
    assert result == {"status": "failed", "reason": "url refused: resolves to a private address"}


def test_agent_case_checks_equals_contains_and_regex():
    case = {"kind": "agent", "input": {"model": "echo", "prompt": "abc 123"}}
    assert (
        run_test_case({**case, "expected": {"regex": r"\d+"}}, deadline=later())["status"]
        == "passed"
    )
    failed = run_test_case({**case, "expected": {"contains": "xyz"}}, deadline=later())
    assert failed["reason"] == 'expected output to contain "xyz", got "abc 123"'
    failed = run_test_case({**case, "expected": {"equals": "abc"}}, deadline=later())
    assert failed["reason"] == 'expected output to equal "abc", got "abc 123"'


def test_dsl_case_checks_validity_and_error_substrings():
    bad = {"kind": "dsl", "input": {"source": "var = 1"}}
    result = run_test_case(
        {**bad, "expected": {"valid": False, "errors": ["unexpected token"]}}, deadline=later()
    )
    assert result["status"] == "passed"
    result = run_test_case({**bad, "expected": {}}, deadline=later())
    assert result["reason"].startswith("expected the source to be valid, got 1 error(s): 1:5:")
    result = run_test_case(
        {**bad, "expected": {"valid": False, "errors": ["nothing like this"]}}, deadline=later()
    )
    assert result["reason"] == 'no error contains "nothing like this"'


def test_agent_types_frame_the_prompt_with_a_system_prompt():
    messages = agent_messages(
        {"agentType": "code-analysis", "prompt": "def f(): pass", "config": {"language": "Python"}}
    )
    assert messages[0]["role"] == "system" and "reviewing code" in messages[0]["content"]
    assert messages[1]["content"] == "Analyze the following Python code.\n\ndef f(): pass"
    assert agent_messages({"agentType": "llm", "prompt": "p", "system": "be brief"}) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "p"},
    ]


def test_a_declared_step_with_an_unknown_activity_fails_clearly():
    spec = {"stepName": "s", "form": "long", "activity": "orders.validate", "args": [], "input": {}}
    with pytest.raises(StepFailure) as error:
        run_declared_step(spec, {}, deadline=later())
    assert (error.value.message, error.value.retryable) == (
        'unknown activity "orders.validate"',
        False,
    )


def test_a_declared_agent_without_prompt_uses_the_run_input_or_fails():
    spec = {"stepName": "s", "form": "short", "activity": "Agent", "args": ["echo"], "input": {}}
    assert run_declared_step(spec, {"prompt": "p"}, deadline=later())["output"] == "p"
    with pytest.raises(StepFailure) as error:
        run_declared_step(spec, {}, deadline=later())
    assert error.value.message.startswith('step "s": the agent has no prompt')
