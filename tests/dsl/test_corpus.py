"""Conformance corpus (shared/dsl-corpus): every case of cases.json and every repository file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apps.dsl.compiler import compile_source

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "dsl-corpus"
CASES_FILE = CORPUS / "cases.json"
FILES_DIR = CORPUS / "files"


def _load_cases() -> list[dict]:
    # A missing corpus must fail the run, not skip it: the ids below make that visible.
    if not CASES_FILE.is_file():
        return [{"id": "corpus-missing", "missing": str(CASES_FILE)}]
    return json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]


CASES = _load_cases()

#: Expected verdicts of the files in files/ (the table in the corpus README):
#: None = accepted and valid; a list = accepted with these diagnostics; a str = "L:C: message"
#: of the parse error.
FILE_VERDICTS: dict[str, list[str] | str | None] = {
    "examples__01-hello-world__hello-world.cai": '17:24: unexpected token "{"',
    "examples__02-blog-api__blog-api.cai": '19:24: unexpected token "{"',
    "examples__03-ecommerce__ecommerce.cai": '19:24: unexpected token "{"',
    "examples__04-integrations__integrations.cai": '19:24: unexpected token "{"',
    "examples__05-scheduled-jobs__scheduled-jobs.cai": '19:24: unexpected token "{"',
    "examples__06-mongodb-collections__mongodb-collections.cai": None,
    "examples__07-mixed-databases__mixed-databases.cai": None,
    "examples__08-with-auth__with_auth.cai": None,
    "examples__09-workflows__with_workflows.cai": None,
    "examples__10-events-integrations__events.cai": None,
    "examples__11-endpoints__with_endpoints.cai": '20:5: unexpected token "users"',
    "examples__12-codegen-api__app.cai": '19:14: unexpected token "("',
    "examples__complete_app.cai": None,
    "examples__with_auth.cai": None,
    "examples__with_endpoints.cai": '69:12: unexpected token "auth"',
    "internal__openapi__testdata__sample.cai": None,
    "test__fixtures__complex.cai": None,
    "test__fixtures__conditionals.cai": None,
    "test__fixtures__exec.cai": None,
    "test__fixtures__functions.cai": None,
    "test__fixtures__invalid_duplicate.cai": ["3:1: ScopeError: duplicate declaration 'x'"],
    "test__fixtures__invalid_function.cai": [
        "2:14: FunctionError: undefined function 'undefined_function'"
    ],
    "test__fixtures__invalid_undefined.cai": [
        "2:9: ScopeError: undefined variable 'undefinedVariable'"
    ],
    "test__fixtures__loops.cai": None,
    "test__fixtures__simple.cai": None,
    "test__local__app.cai": None,
    "test_middleware.cai": '1:12: unexpected token "auth"',
    "test_simple.cai": None,
}


def strip_kind_pos(value):
    if isinstance(value, dict):
        return {k: strip_kind_pos(v) for k, v in value.items() if k not in ("Kind", "Pos")}
    if isinstance(value, list):
        return [strip_kind_pos(v) for v in value]
    return value


def _without_suffix(message: str) -> str:
    return message.split(" (expected ")[0]


def test_corpus_is_present_and_complete():
    assert CASES_FILE.is_file(), f"conformance corpus not found at {CASES_FILE}"
    assert FILES_DIR.is_dir(), f"corpus files not found at {FILES_DIR}"
    assert len(CASES) >= 234
    assert sorted(p.name for p in FILES_DIR.glob("*.cai")) == sorted(FILE_VERDICTS)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case):
    assert "missing" not in case, f"conformance corpus not found at {case.get('missing')}"
    result = compile_source(case["input"])
    if case["expect"] == "reject":
        assert result.ast_json is None
        assert len(result.errors) == 1
        pos, message = result.errors[0].split(": ", 1)
        assert (pos, _without_suffix(message)) == (case["error_pos"], case["error_msg"])
    else:
        assert all(isinstance(e, str) for e in result.errors)
        got_errors = [e.split(": ", 1)[1] for e in result.errors]
        assert got_errors == case["errors"]
        assert strip_kind_pos(result.ast_json) == case["ast"]


@pytest.mark.parametrize("name", sorted(FILE_VERDICTS))
def test_repository_file(name):
    path = FILES_DIR / name
    assert path.is_file(), f"corpus file missing: {path}"
    result = compile_source(path.read_text(encoding="utf-8"))
    verdict = FILE_VERDICTS[name]
    if isinstance(verdict, str):
        assert result.ast_json is None
        assert [_without_suffix(e) for e in result.errors] == [verdict]
    else:
        assert result.ast_json is not None
        assert result.errors == (verdict or [])
