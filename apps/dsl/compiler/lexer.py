"""PLY lexer rules for the `.cai` language (spec §1).

The master lexer is built once per process (:func:`get_lexer`); every parse works on its own
``clone()``, so lexing is thread-safe. Tokens are PLY ``LexToken`` objects whose ``lexpos`` is
the 0-based character offset of the token; line/column are derived from it on demand.

Token values: keywords and identifiers carry their text, ``NUMBER`` its text as written,
``STRING`` the raw text between the quotes, ``EXEC_OPEN`` the source from ``exec`` through
``{``, ``COMMAND`` the command text (stripped of Unicode white space).
"""

from __future__ import annotations

import re
import sys
import threading

from ply import lex

from .errors import DslSyntaxError, quote
from .keywords import RESERVED

PUNCTUATION = {
    "AT": "@",
    "EQUALS": "=",
    "COLON": ":",
    "LBRACKET": "[",
    "RBRACKET": "]",
    "LPAREN": "(",
    "RPAREN": ")",
    "LBRACE": "{",
    "RBRACE": "}",
    "COMMA": ",",
}

tokens = (
    *RESERVED.values(),
    "IDENT",
    "NUMBER",
    "STRING",
    "EXEC_OPEN",
    "COMMAND",
    *PUNCTUATION,
)

states = (("cmd", "exclusive"),)

# Characters with the Unicode White_Space property (stripped from exec commands, spec §1.5).
UNICODE_WHITE_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)

# -- INITIAL state -----------------------------------------------------------------------------
# Function rules are tried in definition order, before the string rules; every alternative
# starts with a different character except the exec opener and words, so first match is also
# the longest match.

t_ignore = " \t\n\r\f"


def t_EXEC_OPEN(t):
    r"exec[ \t\n\r\f]*\{"
    t.lexer.begin("cmd")
    return t


def t_IDENT(t):
    r"[A-Za-z_][A-Za-z0-9_]*"
    t.type = RESERVED.get(t.value, "IDENT")
    return t


def t_STRING(t):
    r'"[^"\\]*(?:\\[^\n][^"\\]*)*"'
    t.value = t.value[1:-1]
    return t


t_NUMBER = r"[0-9]+(?:\.[0-9]*)?"
t_ignore_LINE_COMMENT = r"//[^\n]*"
t_ignore_BLOCK_COMMENT = r"/\*[\s\S]*?\*/"
t_AT = r"@"
t_EQUALS = r"="
t_COLON = r":"
t_LBRACKET = r"\["
t_RBRACKET = r"\]"
t_LPAREN = r"\("
t_RPAREN = r"\)"
t_LBRACE = r"\{"
t_RBRACE = r"\}"
t_COMMA = r","


def t_error(t):
    raise lexical_error(t.lexer.lexdata, t.lexpos)


# -- exec command state ------------------------------------------------------------------------

t_cmd_ignore = ""


def t_cmd_COMMAND(t):
    r"[^}]+"
    t.value = t.value.strip(UNICODE_WHITE_SPACE)
    return t


def t_cmd_RBRACE(t):
    r"\}"
    t.lexer.begin("INITIAL")
    return t


def t_cmd_error(t):  # pragma: no cover - every character matches a cmd rule
    raise lexical_error(t.lexer.lexdata, t.lexpos)


# -- helpers -----------------------------------------------------------------------------------


def position_of(text: str, offset: int) -> tuple[int, int]:
    """1-based ``(line, column)`` of a character offset (``\\n`` is the only line separator)."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def lexical_error(text: str, offset: int) -> DslSyntaxError:
    sample = text[offset : offset + 17]
    if len(sample) > 16:
        sample = sample[:16] + "..."
    line, column = position_of(text, offset)
    return DslSyntaxError(line, column, f"lexer: invalid input text {quote(sample)}")


_master: lex.Lexer | None = None
_master_lock = threading.Lock()

LINE_BREAK = re.compile("\n")


def get_lexer() -> lex.Lexer:
    """A fresh lexer (a clone of the process-wide master lexer, built on first use)."""
    global _master
    master = _master
    if master is None:
        with _master_lock:
            if _master is None:
                _master = lex.lex(module=sys.modules[__name__], reflags=0, optimize=False)
            master = _master
    return master.clone()
