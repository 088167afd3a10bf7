"""Error and diagnostic types, and the quoting of spec §4.1."""

from __future__ import annotations

from dataclasses import dataclass

_SIMPLE_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def escape_char(ch: str) -> str:
    """One character quoted as in spec §4.1 (without the surrounding quotes)."""
    esc = _SIMPLE_ESCAPES.get(ch)
    if esc is not None:
        return esc
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quote(text: str) -> str:
    """Quote `text` as spec §4.1 describes (Go ``strconv.Quote`` style)."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return '"' + "".join(escape_char(ch) for ch in text) + '"'


class DslSyntaxError(Exception):
    """The single parse error of a program; ``str(err) == f"{line}:{column}: {message}"``."""

    def __init__(self, line: int, column: int, message: str):
        super().__init__(line, column, message)
        self.line = line
        self.column = column
        self.message = message

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"

    def __repr__(self) -> str:
        return f"DslSyntaxError({self.line}, {self.column}, {self.message!r})"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One validation problem; ``str(d) == f"{line}:{column}: {kind}: {message}"``."""

    line: int
    column: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.kind}: {self.message}"
