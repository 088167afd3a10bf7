"""`manage.py codeai parse|validate|openapi`."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from openapi_spec_validator import validate

from apps.dsl.compiler import compile_source

PROJECT = Path(__file__).resolve().parents[2]

VALID = 'config { name: "shop" version: "3.0.0" }\nvar x = 1\nendpoint GET "/items/:id" { }\n'
INVALID = "var y = z\nprint(nope)\n"
BROKEN = "var x = [1, 2,]\n"


def cai(tmp_path: Path, text: str, name: str = "app.cai") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def codeai(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("codeai", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def codeai_exit(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as caught:
        call_command("codeai", *args, stdout=out, stderr=err)
    return caught.value.code, out.getvalue(), err.getvalue()


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "manage.py", "codeai", *args],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- parse ------------------------------------------------------------------------------------


def test_parse_prints_the_json_ast(tmp_path):
    out, _ = codeai("parse", cai(tmp_path, VALID))
    assert json.loads(out) == compile_source(VALID).ast_json


def test_parse_json_is_pretty_printed(tmp_path):
    out, _ = codeai("parse", cai(tmp_path, VALID), "--format", "json")
    assert out.startswith('{\n  "Kind": "Program"')


def test_parse_text_prints_an_indented_tree(tmp_path):
    out, _ = codeai("parse", cai(tmp_path, VALID), "--format", "text")
    lines = out.splitlines()
    assert lines[:2] == ["Program (1:1)", "  Statements:"]
    assert '    VarDecl (2:1) Name="x"' in lines
    assert "      Value: NumberLiteral (2:9) Value=1" in lines
    assert '        name: StringLiteral (1:16) Value="shop"' in lines
    endpoint = '    EndpointDecl (3:1) Method="GET" Path="/items/:id"'
    assert any(line.startswith(endpoint) for line in lines)


def test_parse_error_is_reported_as_file_line_column_with_exit_1(tmp_path):
    path = cai(tmp_path, BROKEN)
    code, out, err = codeai_exit("parse", path)
    assert code == 1
    assert out == ""
    assert err.startswith(f'{path}:1:15: unexpected token "]"')


# -- validate ---------------------------------------------------------------------------------


def test_validate_reports_a_valid_file(tmp_path):
    path = cai(tmp_path, VALID)
    out, err = codeai("validate", path)
    assert out == f"{path}: valid\n"
    assert err == ""


def test_validate_reports_each_diagnostic_on_stderr_with_exit_1(tmp_path):
    path = cai(tmp_path, INVALID)
    code, out, err = codeai_exit("validate", path)
    assert code == 1
    assert out == ""
    assert err.splitlines() == [
        f"{path}:1:9: ScopeError: undefined variable 'z'",
        f"{path}:2:7: ScopeError: undefined variable 'nope'",
    ]


def test_validate_reports_a_parse_error_with_exit_1(tmp_path):
    path = cai(tmp_path, BROKEN)
    code, _, err = codeai_exit("validate", path)
    assert code == 1
    assert err.startswith(f'{path}:1:15: unexpected token "]"')


def test_validate_of_a_missing_file_fails_with_returncode_2(tmp_path):
    with pytest.raises(CommandError) as caught:
        codeai("validate", str(tmp_path / "missing.cai"))
    assert caught.value.returncode == 2
    assert "missing.cai: no such file" in str(caught.value)


def test_validate_of_a_file_that_is_not_utf8_fails_with_returncode_2(tmp_path):
    path = tmp_path / "latin1.cai"
    path.write_bytes(b'var x = "caf\xe9"')
    with pytest.raises(CommandError) as caught:
        codeai("validate", str(path))
    assert caught.value.returncode == 2
    assert "not valid UTF-8" in str(caught.value)


def test_missing_file_exits_2_with_a_message_on_stderr_from_the_shell(tmp_path):
    completed = manage("validate", str(tmp_path / "missing.cai"))
    assert completed.returncode == 2
    assert "missing.cai: no such file" in completed.stderr
    assert completed.stdout == ""


# -- openapi ----------------------------------------------------------------------------------


def test_openapi_writes_a_valid_yaml_document(tmp_path):
    output = tmp_path / "api.yaml"
    out, _ = codeai("openapi", cai(tmp_path, VALID), "-o", str(output))
    document = yaml.safe_load(output.read_text())
    validate(document)
    assert document["info"] == {"title": "shop", "version": "3.0.0"}
    assert list(document["paths"]) == ["/items/{id}"]
    assert f"wrote {output}" in out


def test_openapi_writes_json_for_a_json_output(tmp_path):
    output = tmp_path / "api.json"
    codeai("openapi", cai(tmp_path, VALID), "--output", str(output))
    validate(json.loads(output.read_text()))


def test_openapi_title_version_and_servers_options_are_applied(tmp_path):
    output = tmp_path / "api.yaml"
    codeai(
        "openapi",
        cai(tmp_path, VALID),
        "-o",
        str(output),
        "--title",
        "Shop API",
        "--version",
        "4.2.0",
        "--server",
        "https://api.example.com",
        "--server",
        "http://localhost:8080",
    )
    document = yaml.safe_load(output.read_text())
    assert document["info"] == {"title": "Shop API", "version": "4.2.0"}
    assert document["servers"] == [
        {"url": "https://api.example.com"},
        {"url": "http://localhost:8080"},
    ]


def test_openapi_of_an_invalid_program_exits_1_without_writing(tmp_path):
    path = cai(tmp_path, INVALID)
    output = tmp_path / "api.yaml"
    code, _, err = codeai_exit("openapi", path, "-o", str(output))
    assert code == 1
    assert err.splitlines()[0] == f"{path}:1:9: ScopeError: undefined variable 'z'"
    assert not output.exists()


def test_openapi_rejects_an_unknown_output_extension_with_returncode_2(tmp_path):
    with pytest.raises(CommandError) as caught:
        codeai("openapi", cai(tmp_path, VALID), "-o", str(tmp_path / "api.txt"))
    assert caught.value.returncode == 2
    assert "use .yaml, .yml or .json" in str(caught.value)


def test_openapi_requires_an_output_path(tmp_path):
    with pytest.raises(CommandError, match="-o/--output"):
        codeai("openapi", cai(tmp_path, VALID))


def test_openapi_of_a_missing_file_fails_with_returncode_2(tmp_path):
    with pytest.raises(CommandError) as caught:
        codeai("openapi", str(tmp_path / "missing.cai"), "-o", str(tmp_path / "api.yaml"))
    assert caught.value.returncode == 2


# -- shell use without a database -------------------------------------------------------------

UNREACHABLE_DB = "postgres://nobody@127.0.0.1:1/x"


def test_validate_runs_from_the_shell_without_a_database(tmp_path):
    path = cai(tmp_path, VALID)
    completed = manage("validate", path, DATABASE_URL=UNREACHABLE_DB)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"{path}: valid\n"


def test_invalid_file_exits_1_from_the_shell_without_a_database(tmp_path):
    path = cai(tmp_path, INVALID)
    completed = manage("validate", path, DATABASE_URL=UNREACHABLE_DB)
    assert completed.returncode == 1
    assert completed.stderr.splitlines()[0] == f"{path}:1:9: ScopeError: undefined variable 'z'"


def test_parse_and_openapi_run_from_the_shell_without_a_database(tmp_path):
    path = cai(tmp_path, VALID)
    parsed = manage("parse", path, "--format", "text", DATABASE_URL=UNREACHABLE_DB)
    assert parsed.returncode == 0, parsed.stderr
    assert parsed.stdout.startswith("Program (1:1)")
    output = tmp_path / "api.json"
    generated = manage("openapi", path, "-o", str(output), DATABASE_URL=UNREACHABLE_DB)
    assert generated.returncode == 0, generated.stderr
    validate(json.loads(output.read_text()))
