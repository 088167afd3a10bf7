"""The `.cai` DSL compiler: lexer, parser, AST/JSON and validator (see ``shared/spec/dsl.md``).

Public API (spec §6)::

    from apps.dsl.compiler import parse, validate, to_json, compile_source
    from apps.dsl.compiler import DslSyntaxError, Diagnostic, CompileResult, Program

``to_json_text(program, indent=None)`` serialises the JSON form with the float formatting of §3.1.

Plain Python (PLY), no Django imports; safe to use from several threads at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Diagnostic, DslSyntaxError
from .nodes import Node, Program
from .parser import parse
from .tojson import to_json, to_json_text
from .validator import validate

__all__ = [
    "CompileResult",
    "Diagnostic",
    "DslSyntaxError",
    "Node",
    "Program",
    "compile_source",
    "parse",
    "to_json",
    "to_json_text",
    "validate",
]


@dataclass(slots=True)
class CompileResult:
    """Result of :func:`compile_source`.

    ``ast_json`` is ``to_json(program)``, or ``None`` only when parsing failed; ``errors`` is
    ``[str(DslSyntaxError)]`` on a parse failure, else ``[str(d) for d in validate(program)]``.
    """

    ast_json: dict | None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def compile_source(source: str) -> CompileResult:
    """Parse, convert and validate ``source``; never raises for any ``str`` input."""
    try:
        program = parse(source)
    except DslSyntaxError as exc:
        return CompileResult(None, [str(exc)])
    return CompileResult(to_json(program), [str(d) for d in validate(program)])
