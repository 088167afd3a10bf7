"""Interpreter for `.cai` programs (spec §7).

`run(program)` executes the scripting statements of a program and collects its top-level
declarations into an application model. It works on the JSON form of spec §3 (the dict returned by
`apps.dsl.compiler.to_json`), so it accepts either a parsed `Program` or that dict. The program is
expected to have passed validation; a program that did not still runs, and whatever would have been
a validation error surfaces as a runtime error when (and if) it is reached.

Decisions the spec leaves open:

* Runtime errors, the step limit (statements + expressions evaluated + loop iterations, so that
  empty loop bodies are not free), the wall-clock limit and disabled `exec` blocks never raise:
  they are recorded on the `RunResult`, whose `ok`/`exit_code` tell the caller whether the run
  failed. A timed-out or non-zero `exec` block does not fail the run. A disabled `exec` block is
  recorded as skipped and the program goes on (spec §7), but the run fails at the end (design §7:
  "an exec block fails the run with a clear message").
* The wall-clock limit covers the whole run, `exec` blocks included: each block runs with the
  smaller of `exec_timeout_seconds` and the time left. A block that hits its own timeout is
  recorded as timed out and the program goes on; one cut short by the run's deadline ends the run
  with `time limit exceeded`.
* Output is capped (`MAX_OUTPUT_CHARS`, error `output limit exceeded`) and so is the captured output
  of each `exec` stream (`EXEC_CAPTURE_BYTES`, the rest is dropped and marked as truncated), so a
  program cannot exhaust a worker's memory. Processes left behind by an `exec` block (background
  jobs) are killed with its process group when the block ends.
* `\\u` + four-hex-digit escapes naming a UTF-16 surrogate pair are combined; a lone
  surrogate decodes to U+FFFD (so that every output can be stored as UTF-8).
* The arguments of short-form workflow steps become Python values when the workflow declaration
  is reached, without running anything (declarations do nothing at run time and these arguments
  are not scope-checked): literals give their values, an identifier the value of the visible
  variable it names (so top-level variables and their overrides flow in) or else its name, and a
  call `{"call": name, "args": [...]}` without being made. `collect_declarations`, which runs
  nothing, resolves no identifiers.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from string import hexdigits
from typing import Any

__all__ = [
    "DslRuntimeError",
    "ExecRecord",
    "RunResult",
    "collect_declarations",
    "declared_variables",
    "decode_string",
    "display",
    "run",
]

MAX_CALL_DEPTH = 100
MAX_OUTPUT_CHARS = 4_000_000
EXEC_CAPTURE_BYTES = 1_000_000
# Python frames the tree walker may need: up to MAX_CALL_DEPTH user calls, each a few frames per
# level of statement nesting. Raised (never lowered below the process's value) while a run is on.
_RECURSION_LIMIT = 20_000
_TIME_CHECK_EVERY = 64

_DECLARATION_KINDS = {
    "ConfigDecl": "configs",
    "DatabaseBlock": "databases",
    "AuthDecl": "auths",
    "RoleDecl": "roles",
    "MiddlewareDecl": "middlewares",
    "EventDecl": "events",
    "EventHandler": "event_handlers",
    "IntegrationDecl": "integrations",
    "WebhookDecl": "webhooks",
    "EndpointDecl": "endpoints",
    "WorkflowDecl": "workflows",
    "JobDecl": "jobs",
}

_NAME_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


class _Function:
    """A user function: parameters, body and the scope it closes over."""

    __slots__ = ("body", "closure", "name", "params")

    def __init__(self, name: str, params: list[str], body: list[dict], closure: _Scope):
        self.name = name
        self.params = params
        self.body = body
        self.closure = closure


class _Builtin:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


_PRINT = _Builtin("print")
_LEN = _Builtin("len")


class _Scope:
    __slots__ = ("parent", "vars")

    def __init__(self, parent: _Scope | None = None):
        self.vars: dict[str, Any] = {}
        self.parent = parent

    def find(self, name: str) -> _Scope | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.vars:
                return scope
            scope = scope.parent
        return None


def _type_name(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "function"


def _truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, float | str | list):
        return bool(value)
    return True


def _format_number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


class _DisplayTooLarge(Exception):
    pass


_OPEN, _CLOSE, _SEP = object(), object(), object()


def display(value: Any, *, limit: int | None = None) -> str:
    """The display form of a value (spec §7); iterative, so deep nesting cannot overflow."""
    out: list[str] = []
    total = 0
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, in_array = stack.pop()
        if item is _CLOSE:
            text = "]"
        elif item is _SEP:
            text = ", "
        elif isinstance(item, list):
            stack.append((_CLOSE, False))
            for index in range(len(item) - 1, -1, -1):
                stack.append((item[index], True))
                if index:
                    stack.append((_SEP, False))
            text = "["
        elif isinstance(item, str):
            text = f'"{item}"' if in_array else item
        elif item is None:
            text = "null"
        elif isinstance(item, bool):
            text = "true" if item else "false"
        elif isinstance(item, float):
            text = _format_number(item)
        elif isinstance(item, _Function | _Builtin):
            text = f"<function {item.name}>"
        else:  # pragma: no cover - no other values exist
            text = str(item)
        total += len(text)
        if limit is not None and total > limit:
            raise _DisplayTooLarge
        out.append(text)
    return "".join(out)


def decode_string(raw: str) -> str:
    """Decode the escapes of a string literal's raw text (spec §7)."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        char = raw[i]
        if char != "\\" or i + 1 >= n:
            out.append(char)
            i += 1
            continue
        nxt = raw[i + 1]
        if nxt in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[nxt])
            i += 2
            continue
        if nxt == "u" and _is_hex4(raw, i + 2):
            code = int(raw[i + 2 : i + 6], 16)
            i += 6
            if 0xD800 <= code < 0xDC00 and raw.startswith("\\u", i) and _is_hex4(raw, i + 2):
                low = int(raw[i + 2 : i + 6], 16)
                if 0xDC00 <= low < 0xE000:
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
            if 0xD800 <= code < 0xE000:
                code = 0xFFFD
            out.append(chr(code))
            continue
        out.append(char)
        out.append(nxt)
        i += 2
    return "".join(out)


def _is_hex4(text: str, start: int) -> bool:
    chunk = text[start : start + 4]
    return len(chunk) == 4 and all(c in hexdigits for c in chunk)


def _from_python(value: Any, name: str) -> Any:
    """A Python value (e.g. from a JSON request) as a language value; ValueError if impossible."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"variable {name!r}: number out of range") from None
        if not math.isfinite(number):
            raise ValueError(f"variable {name!r}: number must be finite")
        return number
    if isinstance(value, list):
        return [_from_python(item, name) for item in value]
    raise ValueError(
        f"variable {name!r}: unsupported value of type {type(value).__name__} "
        "(expected string, number, bool, array or null)"
    )


def _to_python(value: Any) -> Any:
    """A language value as plain JSON-friendly Python (integral numbers as int)."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**63 else value
    if isinstance(value, list):
        return [_to_python(item) for item in value]
    if isinstance(value, _Function | _Builtin):
        return None
    return value


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


class DslRuntimeError(Exception):
    """A runtime error at a node; `str()` is `L:C: RuntimeError: message`."""

    def __init__(self, line: int, column: int, message: str):
        super().__init__(f"{line}:{column}: RuntimeError: {message}")
        self.line = line
        self.column = column
        self.message = message


@dataclass
class ExecRecord:
    """One `exec` block reached by the run."""

    line: int
    column: int
    command: str  # as written in the program
    resolved_command: str | None = None  # after `$name` interpolation; None when skipped
    skipped: bool = False
    exit_code: int | None = None  # None when skipped or timed out
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    duration_seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "line": self.line,
            "column": self.column,
            "command": self.command,
            "resolved_command": self.resolved_command,
            "skipped": self.skipped,
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "timed_out": self.timed_out,
            "duration_seconds": self.duration_seconds,
        }


@dataclass
class RunResult:
    """The outcome of `run`.

    `output` is the printed lines joined with "\\n" (plus exec stdout/stderr when exec is enabled),
    in program order. `errors` holds what failed the run (a disabled exec block, a runtime error,
    a limit), each as `L:C: ...`; `transcript` is `output` followed by those messages, i.e. what a
    terminal would show and what an execution record should store.
    """

    ok: bool
    exit_code: int
    output: str
    output_lines: list[str]
    errors: list[str]
    exec_records: list[ExecRecord]
    declarations: dict
    steps: int
    elapsed_seconds: float
    runtime_error: DslRuntimeError | None = field(default=None, repr=False)

    @property
    def error(self) -> str | None:
        return self.errors[0] if self.errors else None

    @property
    def transcript(self) -> str:
        return "\n".join(part for part in [self.output, *self.errors] if part)

    @property
    def workflows(self) -> list[dict]:
        return self.declarations["workflows"]

    @property
    def jobs(self) -> list[dict]:
        return self.declarations["jobs"]

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "output": self.output,
            "output_lines": list(self.output_lines),
            "error": self.error,
            "errors": list(self.errors),
            "transcript": self.transcript,
            "exec_records": [record.to_dict() for record in self.exec_records],
            "declarations": self.declarations,
            "steps": self.steps,
            "elapsed_seconds": self.elapsed_seconds,
        }


# --------------------------------------------------------------------------------------------
# Program access
# --------------------------------------------------------------------------------------------


def _program_json(program: Any) -> dict:
    if isinstance(program, dict):
        if program.get("Kind", "Program") != "Program" or "Statements" not in program:
            raise TypeError("expected a Program or its JSON form (spec §3)")
        return program
    from apps.dsl.compiler import to_json

    return to_json(program)


def _pos(node: dict) -> tuple[int, int]:
    pos = node.get("Pos") or {}
    return pos.get("Line", 0), pos.get("Column", 0)


def _source(node: dict) -> str:
    line, column = _pos(node)
    return f"{line}:{column}"


def declared_variables(program: Any) -> list[str]:
    """Names of the top-level `var` declarations, in order of first declaration."""
    names: list[str] = []
    for statement in _program_json(program)["Statements"] or []:
        if statement.get("Kind") == "VarDecl" and statement["Name"] not in names:
            names.append(statement["Name"])
    return names


# --------------------------------------------------------------------------------------------
# Application model (declarations)
# --------------------------------------------------------------------------------------------


def _static_value(expr: dict | None, scope: _Scope | None = None) -> Any:
    """An expression of a declaration as a Python value, without running anything.

    Literals give their values; an identifier gives the value of the variable it names when one
    is visible in `scope`, else its name; a call gives `{"call": name, "args": [...]}` and is not
    made (declarations do nothing at run time, and their expressions are not scope-checked).
    """
    if expr is None:
        return None
    kind = expr.get("Kind")
    if kind == "Identifier" and scope is not None:
        found = scope.find(expr["Name"])
        if found is not None:
            value = found.vars[expr["Name"]]
            if not isinstance(value, _Function | _Builtin):
                return _to_python(value)
    if kind == "ArrayLiteral":
        return [_static_value(item, scope) for item in expr["Elements"] or []]
    if kind == "FunctionCall":
        args = [_static_value(arg, scope) for arg in expr["Args"] or []]
        return {"call": expr["Name"], "args": args}
    if kind == "StringLiteral":
        return decode_string(expr["Value"])
    if kind == "NumberLiteral":
        return _to_python(float(expr["Value"]))
    if kind == "BoolLiteral":
        return bool(expr["Value"])
    if kind == "Identifier":
        return expr["Name"]
    return None


def _static_map(properties: dict | None) -> dict:
    return {key: _static_value(value) for key, value in (properties or {}).items()}


def _or_none(value: Any) -> Any:
    return value if value else None


def _retry(node: dict | None) -> dict | None:
    if node is None:
        return None
    interval = node.get("InitialInterval") or ""
    return {
        "max_attempts": _or_none(node.get("MaxAttempts")),
        "initial_interval": decode_string(interval) if interval else None,
        "backoff_multiplier": _or_none(node.get("BackoffMultiplier")),
        "source": _source(node),
    }


def _workflow_step(step: dict) -> dict:
    if step.get("Parallel"):
        return {
            "type": "parallel",
            "source": _source(step),
            "steps": [_workflow_step(child) for child in step.get("Steps") or []],
        }
    args = step.get("Args")
    activity = step.get("Activity") or ""
    return {
        "type": "step",
        "name": step["Name"],
        "source": _source(step),
        # Short steps name a call (`Agent`), long steps an activity string (`"orders.validate"`).
        "activity": activity if args is not None else decode_string(activity),
        "args": [_static_value(arg) for arg in args] if args is not None else [],
        "input": {
            mapping["Key"]: decode_string(mapping["Value"]) for mapping in step.get("Input") or []
        },
        "condition": decode_string(step["Condition"]) if step.get("Condition") else None,
    }


def _workflow(node: dict) -> dict:
    trigger = node.get("Trigger")
    steps = node.get("Steps") or []
    short = any(step.get("Args") is not None for step in steps)
    return {
        "name": node["Name"],
        "source": _source(node),
        "form": "short" if short else "long",
        "trigger": (
            {
                "type": trigger["TrigType"],
                "value": decode_string(trigger["Value"]) if trigger.get("Value") else None,
            }
            if trigger
            else None
        ),
        "timeout": decode_string(node["Timeout"]) if node.get("Timeout") else None,
        "retry": _retry(node.get("Retry")),
        "steps": [_workflow_step(step) for step in steps],
    }


def _job(node: dict) -> dict:
    return {
        "name": node["Name"],
        "source": _source(node),
        "schedule": decode_string(node["Schedule"]) if node.get("Schedule") else None,
        "task": decode_string(node.get("Task") or ""),
        "queue": decode_string(node["Queue"]) if node.get("Queue") else None,
        "retry": _retry(node.get("Retry")),
    }


def _type_ref(node: dict | None) -> str:
    if node is None:
        return ""
    if node.get("EmbeddedDoc") is not None:
        return "embedded"
    params = node.get("Params") or []
    if not params:
        return node.get("Name") or ""
    rendered = [p if isinstance(p, str) else _type_ref(p) for p in params]
    return f"{node['Name']}({', '.join(rendered)})"


def _fields(fields: list[dict] | None) -> list[dict]:
    result = []
    for field_node in fields or []:
        field_type = field_node.get("FieldType") or {}
        entry = {
            "name": field_node["Name"],
            "type": _type_ref(field_type),
            "modifiers": [
                {"name": mod["Name"], "value": _static_value(mod.get("Value"))}
                for mod in field_node.get("Modifiers") or []
            ],
        }
        embedded = field_type.get("EmbeddedDoc")
        if embedded is not None:
            entry["fields"] = _fields(embedded.get("Fields"))
        result.append(entry)
    return result


def _database(node: dict) -> dict:
    models, collections = [], []
    for item in node.get("Statements") or []:
        target = models if item.get("Kind") == "ModelDecl" else collections
        entry = {
            "name": item["Name"],
            "description": decode_string(item.get("Description") or ""),
            "fields": _fields(item.get("Fields")),
            "source": _source(item),
        }
        target.append(entry)
    return {
        "type": node["DBType"],
        "source": _source(node),
        "models": models,
        "collections": collections,
    }


def _endpoint(node: dict) -> dict:
    handler = node.get("Handler") or {}
    request, response, logic = handler.get("Request"), handler.get("Response"), handler.get("Logic")
    return {
        "method": node["Method"],
        "path": decode_string(node["Path"]),
        "source": _source(node),
        "middlewares": [mw["Name"] for mw in node.get("Middlewares") or []],
        "require_role": decode_string(node["RequireRole"]) if node.get("RequireRole") else None,
        "request": {"type": request["TypeName"], "source": request["Source"]} if request else None,
        "response": (
            {"type": response["TypeName"], "status": response["StatusCode"]} if response else None
        ),
        "annotations": [
            {"name": ann["Name"], "value": decode_string(ann.get("Value") or "")}
            for ann in node.get("Annotations") or []
        ],
        "logic": [
            {
                "action": step["Action"],
                "target": step.get("Target") or None,
                "args": list(step.get("Args") or []),
                "condition": step.get("Condition") or None,
                "options": {opt["Key"]: opt["Value"]["Value"] for opt in step.get("Options") or []},
            }
            for step in (logic or {}).get("Steps") or []
        ],
    }


def _declaration(node: dict) -> dict:
    kind = node["Kind"]
    source = _source(node)
    if kind == "WorkflowDecl":
        return _workflow(node)
    if kind == "JobDecl":
        return _job(node)
    if kind == "EndpointDecl":
        return _endpoint(node)
    if kind == "DatabaseBlock":
        return _database(node)
    if kind == "ConfigDecl":
        return {
            "source": source,
            "database_type": node.get("DatabaseType"),
            "mongodb_uri": decode_string(node.get("MongoDBURI") or ""),
            "mongodb_database": decode_string(node.get("MongoDBName") or ""),
            "properties": _static_map(node.get("Properties")),
        }
    if kind == "AuthDecl":
        jwks = node.get("JWKS")
        return {
            "name": node["Name"],
            "source": source,
            "method": node["Method"],
            "jwks": (
                {
                    "url": decode_string(jwks.get("URL") or ""),
                    "issuer": decode_string(jwks.get("Issuer") or ""),
                    "audience": decode_string(jwks.get("Audience") or ""),
                }
                if jwks
                else None
            ),
        }
    if kind == "RoleDecl":
        return {
            "name": node["Name"],
            "source": source,
            "permissions": [decode_string(p) for p in node.get("Permissions") or []],
        }
    if kind == "MiddlewareDecl":
        return {
            "name": node["Name"],
            "source": source,
            "type": node["MiddlewareType"],
            "config": _static_map(node.get("Config")),
        }
    if kind == "EventDecl":
        schema = node.get("Schema")
        return {
            "name": node["Name"],
            "source": source,
            "schema": (
                {f["Name"]: f["FieldType"] for f in schema.get("Fields") or []} if schema else None
            ),
        }
    if kind == "EventHandler":
        return {
            "source": source,
            "event": decode_string(node["EventName"]),
            "action": node["ActionType"],
            "target": decode_string(node["Target"]),
            "async": bool(node.get("Async")),
        }
    if kind == "IntegrationDecl":
        auth, breaker = node.get("Auth"), node.get("CircuitBreaker")
        return {
            "name": node["Name"],
            "source": source,
            "type": node["IntgType"],
            "base_url": decode_string(node["BaseURL"]),
            "auth": (
                {"type": auth["AuthType"], "config": _static_map(auth.get("Config"))}
                if auth
                else None
            ),
            "timeout": decode_string(node["Timeout"]) if node.get("Timeout") else None,
            "circuit_breaker": (
                {
                    "threshold": breaker["FailureThreshold"],
                    "timeout": decode_string(breaker.get("Timeout") or ""),
                    "max_concurrent": breaker["MaxConcurrent"],
                }
                if breaker
                else None
            ),
        }
    if kind == "WebhookDecl":
        headers, retry = node.get("Headers"), node.get("Retry")
        return {
            "name": node["Name"],
            "source": source,
            "event": decode_string(node["Event"]),
            "url": decode_string(node["URL"]),
            "method": node["Method"],
            "headers": {decode_string(h["Key"]): decode_string(h["Value"]) for h in headers or []},
            "retry": (
                {
                    "max_attempts": retry.get("MaxAttempts"),
                    "initial_interval": decode_string(retry.get("InitialInterval") or ""),
                    "backoff": retry.get("BackoffMultiplier"),
                }
                if retry
                else None
            ),
        }
    return {"source": source}  # pragma: no cover - every declaration kind is handled above


def _empty_model() -> dict:
    return {key: [] for key in _DECLARATION_KINDS.values()}


def collect_declarations(program: Any) -> dict:
    """The application model: top-level declarations, one list per kind, in source order.

    Keys: configs, databases, auths, roles, middlewares, events, event_handlers, integrations,
    webhooks, endpoints, workflows, jobs. Workflows look like
    `{name, source, form, trigger: {type, value} | None, timeout, retry, steps}` where each step is
    `{type: "step", name, activity, args, input, condition}` or `{type: "parallel", steps}`;
    jobs `{name, source, schedule, task, queue, retry}`; a retry policy
    `{max_attempts, initial_interval, backoff_multiplier}` with None for what is not given.
    """
    model = _empty_model()
    for statement in _program_json(program)["Statements"] or []:
        key = _DECLARATION_KINDS.get(statement.get("Kind"))
        if key is not None:
            model[key].append(_declaration(statement))
    return model


# --------------------------------------------------------------------------------------------
# Exec blocks
# --------------------------------------------------------------------------------------------


def _drain(stream: Any, sink: list[bytes], truncated: list[bool]) -> None:
    kept = 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        room = EXEC_CAPTURE_BYTES - kept
        if room > 0:
            sink.append(chunk[:room])
            kept += min(room, len(chunk))
        if len(chunk) > max(room, 0):
            truncated[0] = True
    stream.close()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _run_shell(command: str, timeout: float) -> tuple[int | None, str, str, bool]:
    """Run `/bin/sh -c command` in its own process group; (exit code, stdout, stderr, timed out)."""
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    captured: dict[str, tuple[list[bytes], list[bool]]] = {
        "stdout": ([], [False]),
        "stderr": ([], [False]),
    }
    readers = [
        threading.Thread(target=_drain, args=(getattr(proc, name), *captured[name]), daemon=True)
        for name in ("stdout", "stderr")
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=max(timeout, 0.001))
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc.pid)
        proc.wait()
    # Background processes the command left behind share its group and would hold the pipes.
    _kill_group(proc.pid)
    for reader in readers:
        reader.join(timeout=5)

    def text(name: str) -> str:
        chunks, truncated = captured[name]
        decoded = b"".join(chunks).decode("utf-8", errors="replace")
        return decoded + ("\n[output truncated]" if truncated[0] else "")

    exit_code = None if timed_out else proc.returncode
    return exit_code, text("stdout"), text("stderr"), timed_out


# --------------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------------


class _Stop(Exception):
    """Ends the run: carries the runtime error."""

    def __init__(self, error: DslRuntimeError):
        super().__init__(str(error))
        self.error = error


class _Machine:
    def __init__(
        self,
        *,
        overrides: dict[str, Any],
        exec_enabled: bool,
        max_steps: int,
        timeout_seconds: float,
        exec_timeout_seconds: float,
    ):
        self.overrides = overrides
        self.exec_enabled = exec_enabled
        self.max_steps = max_steps
        self.exec_timeout = exec_timeout_seconds
        self.started = time.monotonic()
        self.deadline = self.started + timeout_seconds
        self.steps = 0
        self.depth = 0
        self.output_chars = 0
        self.chunks: list[str] = []
        self.lines: list[str] = []
        self.execs: list[ExecRecord] = []
        self.last_node: dict | None = None
        self.globals = _Scope()
        self.globals.vars["print"] = _PRINT
        self.globals.vars["len"] = _LEN
        self.model = _empty_model()
        self.workflow_entries: dict[int, dict] = {}
        self.statement_handlers = {
            "VarDecl": self.exec_var,
            "Assignment": self.exec_assignment,
            "IfStmt": self.exec_if,
            "ForLoop": self.exec_for,
            "FunctionDecl": self.exec_function_decl,
            "ExecBlock": self.exec_exec,
            "FunctionCall": self.exec_call_statement,
        }

    # -- errors and limits ------------------------------------------------------------------

    def fail(self, node: dict | None, message: str) -> _Stop:
        line, column = _pos(node or {})
        return _Stop(DslRuntimeError(line, column, message))

    def step(self, node: dict) -> None:
        self.last_node = node
        self.steps += 1
        if self.steps > self.max_steps:
            raise self.fail(node, "step limit exceeded")
        if self.steps % _TIME_CHECK_EVERY == 0 and time.monotonic() > self.deadline:
            raise self.fail(node, "time limit exceeded")

    def emit(self, node: dict, text: str) -> None:
        self.output_chars += len(text) + 1
        if self.output_chars > MAX_OUTPUT_CHARS:
            raise self.fail(node, "output limit exceeded")
        self.chunks.append(text)

    def display(self, node: dict, value: Any) -> str:
        try:
            return display(value, limit=MAX_OUTPUT_CHARS - self.output_chars)
        except _DisplayTooLarge:
            raise self.fail(node, "output limit exceeded") from None

    # -- program ----------------------------------------------------------------------------

    def run(self, program: dict) -> None:
        for statement in program["Statements"] or []:
            key = _DECLARATION_KINDS.get(statement.get("Kind"))
            if key is not None:
                entry = _declaration(statement)
                self.model[key].append(entry)
                if key == "workflows":
                    self.workflow_entries[id(statement)] = entry
        for statement in program["Statements"] or []:
            self.exec_statement(statement, self.globals, top_level=True)

    def exec_block(self, statements: list[dict] | None, scope: _Scope) -> None:
        for statement in statements or []:
            self.exec_statement(statement, scope)

    def exec_statement(self, node: dict, scope: _Scope, top_level: bool = False) -> None:
        self.step(node)
        kind = node.get("Kind")
        handler = self.statement_handlers.get(kind)
        if handler is not None:
            if kind == "VarDecl":
                self.exec_var(node, scope, top_level)
            else:
                handler(node, scope)
        elif kind in _DECLARATION_KINDS:
            if top_level and kind == "WorkflowDecl":
                self.evaluate_workflow_args(node, scope)
        else:
            raise self.fail(node, f"unsupported statement {kind!r}")

    # -- statements -------------------------------------------------------------------------

    def exec_var(self, node: dict, scope: _Scope, top_level: bool = False) -> None:
        name = node["Name"]
        if top_level and name in self.overrides:
            scope.vars[name] = self.overrides[name]
            return
        scope.vars[name] = self.eval(node["Value"], scope)

    def exec_assignment(self, node: dict, scope: _Scope) -> None:
        value = self.eval(node["Value"], scope)
        name = node["Name"]
        target = scope.find(name)
        if target is None:
            raise self.fail(node, f"undefined variable '{name}'")
        if isinstance(target.vars[name], _Function | _Builtin):
            raise self.fail(node, f"cannot assign to function '{name}'")
        target.vars[name] = value

    def exec_if(self, node: dict, scope: _Scope) -> None:
        if _truthy(self.eval(node["Condition"], scope)):
            self.exec_block(node["Then"]["Statements"], _Scope(scope))
        elif node.get("Else") is not None:
            self.exec_block(node["Else"]["Statements"], _Scope(scope))

    def exec_for(self, node: dict, scope: _Scope) -> None:
        iterable = self.eval(node["Iterable"], scope)
        if not isinstance(iterable, list):
            raise self.fail(node, f"cannot iterate over non-array type '{_type_name(iterable)}'")
        body = node["Body"]["Statements"]
        variable = node["Variable"]
        for item in iterable:
            self.step(node)  # an iteration is a step, so empty bodies cannot loop for free
            loop_scope = _Scope(scope)
            loop_scope.vars[variable] = item
            self.exec_block(body, loop_scope)

    def exec_function_decl(self, node: dict, scope: _Scope) -> None:
        params = [param["Name"] for param in node.get("Params") or []]
        body = node["Body"]["Statements"] or []
        scope.vars[node["Name"]] = _Function(node["Name"], params, body, scope)

    def exec_call_statement(self, node: dict, scope: _Scope) -> None:
        self.eval_call(node, scope)

    def exec_exec(self, node: dict, scope: _Scope) -> None:
        line, column = _pos(node)
        command = node.get("Command") or ""
        if not self.exec_enabled:
            self.execs.append(ExecRecord(line, column, command, skipped=True))
            return

        def quote(match: re.Match) -> str:
            found = scope.find(match.group(1))
            if found is None:
                return match.group(0)
            value = found.vars[match.group(1)]
            if isinstance(value, _Function | _Builtin):
                return match.group(0)
            return shlex.quote(self.display(node, value))

        resolved = _NAME_RE.sub(quote, command)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self.fail(node, "time limit exceeded")
        timeout = min(self.exec_timeout, remaining)
        started = time.monotonic()
        exit_code, stdout, stderr, timed_out = _run_shell(resolved, timeout)
        record = ExecRecord(
            line,
            column,
            command,
            resolved_command=resolved,
            exit_code=exit_code,
            stdout=stdout,
            stderr=stderr,
            timed_out=timed_out,
            duration_seconds=round(time.monotonic() - started, 6),
        )
        self.execs.append(record)
        for text in (stdout, stderr):
            if text:
                self.emit(node, text[:-1] if text.endswith("\n") else text)
        if timed_out and time.monotonic() >= self.deadline:
            raise self.fail(node, "time limit exceeded")

    def evaluate_workflow_args(self, node: dict, scope: _Scope) -> None:
        entry = self.workflow_entries.get(id(node))
        if entry is None:
            return
        for step, item in zip(node.get("Steps") or [], entry["steps"], strict=True):
            args = step.get("Args")
            if args is not None:
                item["args"] = [_static_value(arg, scope) for arg in args]

    # -- expressions ------------------------------------------------------------------------

    def eval(self, node: dict, scope: _Scope) -> Any:
        self.step(node)
        kind = node.get("Kind")
        if kind == "StringLiteral":
            return decode_string(node["Value"])
        if kind == "NumberLiteral":
            return float(node["Value"])
        if kind == "BoolLiteral":
            return bool(node["Value"])
        if kind == "Identifier":
            name = node["Name"]
            found = scope.find(name)
            if found is None:
                raise self.fail(node, f"undefined variable '{name}'")
            return found.vars[name]
        if kind == "ArrayLiteral":
            return [self.eval(element, scope) for element in node["Elements"] or []]
        if kind == "FunctionCall":
            return self.eval_call(node, scope)
        raise self.fail(node, f"unsupported expression {kind!r}")

    def eval_call(self, node: dict, scope: _Scope) -> Any:
        args = []
        for arg in node.get("Args") or []:
            args.append(self.eval(arg, scope))
        name = node["Name"]
        found = scope.find(name)
        if found is None:
            raise self.fail(node, f"undefined function '{name}'")
        function = found.vars[name]
        if isinstance(function, _Builtin):
            self.check_arity(node, name, 1, len(args))
            if function is _PRINT:
                text = self.display(node, args[0])
                self.emit(node, text)
                self.lines.append(text)
                return None
            value = args[0]
            if isinstance(value, str | list):
                return float(len(value))
            raise self.fail(node, "len() expects a string or an array")
        if not isinstance(function, _Function):
            raise self.fail(node, f"'{name}' is not a function")
        self.check_arity(node, name, len(function.params), len(args))
        if self.depth >= MAX_CALL_DEPTH:
            raise self.fail(node, "maximum call depth exceeded")
        call_scope = _Scope(function.closure)
        for param, value in zip(function.params, args, strict=True):
            call_scope.vars[param] = value
        self.depth += 1
        try:
            self.exec_block(function.body, call_scope)
        finally:
            self.depth -= 1
        return None

    def check_arity(self, node: dict, name: str, expected: int, got: int) -> None:
        if expected != got:
            raise self.fail(
                node, f"wrong number of arguments for '{name}': expected {expected}, got {got}"
            )


_recursion_lock = threading.Lock()
_recursion_users = 0
_recursion_saved = 0


def _raise_recursion_limit() -> None:
    global _recursion_users, _recursion_saved
    with _recursion_lock:
        if _recursion_users == 0:
            _recursion_saved = sys.getrecursionlimit()
            if _recursion_saved < _RECURSION_LIMIT:
                sys.setrecursionlimit(_RECURSION_LIMIT)
        _recursion_users += 1


def _restore_recursion_limit() -> None:
    global _recursion_users
    with _recursion_lock:
        _recursion_users -= 1
        if _recursion_users == 0:
            sys.setrecursionlimit(_recursion_saved)


def run(
    program: Any,
    *,
    variables: dict | None = None,
    exec_enabled: bool = False,
    max_steps: int = 100_000,
    timeout_seconds: float = 10.0,
    exec_timeout_seconds: float = 30.0,
) -> RunResult:
    """Execute a (validated) program; see the module docstring for the rules.

    `variables` replace the initial values of top-level `var` declarations of the same name; a
    name that is not declared at top level, or a value that is not a string, number, bool, list or
    None, raises ValueError (check with `declared_variables` first to answer with a 400).
    """
    tree = _program_json(program)
    declared = declared_variables(tree)
    overrides: dict[str, Any] = {}
    for name, value in (variables or {}).items():
        if name not in declared:
            raise ValueError(
                f"unknown variable {name!r}; the program declares: {', '.join(declared) or 'none'}"
            )
        overrides[name] = _from_python(value, name)
    if max_steps < 1 or timeout_seconds <= 0 or exec_timeout_seconds <= 0:
        raise ValueError("max_steps, timeout_seconds and exec_timeout_seconds must be positive")

    machine = _Machine(
        overrides=overrides,
        exec_enabled=exec_enabled,
        max_steps=max_steps,
        timeout_seconds=timeout_seconds,
        exec_timeout_seconds=exec_timeout_seconds,
    )
    runtime_error: DslRuntimeError | None = None
    _raise_recursion_limit()
    try:
        machine.run(tree)
    except _Stop as stop:
        runtime_error = stop.error
    except RecursionError:
        line, column = _pos(machine.last_node or {})
        runtime_error = DslRuntimeError(line, column, "maximum nesting depth exceeded")
    finally:
        _restore_recursion_limit()

    errors: list[str] = []
    skipped = [record for record in machine.execs if record.skipped]
    if skipped:
        first = skipped[0]
        count = len(skipped)
        errors.append(
            f"{first.line}:{first.column}: exec is disabled on this server "
            f"(CODEAI_EXEC_ENABLED is off): {count} exec block{'s' if count != 1 else ''} "
            "skipped"
        )
    if runtime_error is not None:
        errors.append(str(runtime_error))
    return RunResult(
        ok=not errors,
        exit_code=1 if errors else 0,
        output="\n".join(machine.chunks),
        output_lines=machine.lines,
        errors=errors,
        exec_records=machine.execs,
        declarations=machine.model,
        steps=machine.steps,
        elapsed_seconds=round(time.monotonic() - machine.started, 6),
        runtime_error=runtime_error,
    )
