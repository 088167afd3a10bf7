"""The control plane's view of the compiler: one report per source text."""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CompileReport:
    ast_json: dict[str, Any] | None
    errors: list[str]  # "L:C: message" for a parse failure, "L:C: Kind: message" otherwise
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    parse_failed: bool = False

    @property
    def valid(self) -> bool:
        return not self.errors

    def prefixed_errors(self) -> list[str]:
        prefix = "parse error: " if self.parse_failed else "validation error: "
        return [prefix + message for message in self.errors]


def dsl_compile(*, source: str) -> CompileReport:
    """Parse, convert and validate; never raises for bad input."""
    from .compiler import DslSyntaxError, parse, to_json, validate

    try:
        program = parse(source)
    except DslSyntaxError as err:
        diagnostic = {
            "line": err.line,
            "column": err.column,
            "kind": "SyntaxError",
            "message": err.message,
        }
        return CompileReport(None, [str(err)], [diagnostic], parse_failed=True)
    diagnostics = validate(program)
    return CompileReport(
        ast_json=to_json(program),
        errors=[str(d) for d in diagnostics],
        diagnostics=[
            {"line": d.line, "column": d.column, "kind": d.kind, "message": d.message}
            for d in diagnostics
        ],
    )
