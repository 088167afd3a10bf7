"""Keyword table and name classes of the `.cai` language (spec §1.4)."""

from __future__ import annotations

SCRIPTING = ("var", "if", "else", "for", "in", "function", "true", "false")

M1 = [
    "config",
    "database",
    "postgres",
    "mongodb",
    "model",
    "collection",
    "indexes",
    "index",
    "unique",
    "text",
    "geospatial",
    "embedded",
    "required",
    "optional",
    "primary",
    "auto",
    "default",
    "description",
    "auth",
    "role",
    "middleware",
    "method",
    "jwks_url",
    "issuer",
    "audience",
    "permissions",
    "type",
    "provider",
    "jwt",
    "oauth2",
    "apikey",
    "basic",
    "endpoint",
    "GET",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "request",
    "response",
    "from",
    "body",
    "query",
    "path",
    "status",
    "where",
    "with",
]

M2 = [
    "token",
    "header",
    "value",
    "event",
    "schema",
    "on",
    "do",
    "workflow",
    "emit",
    "async",
    "integration",
    "base_url",
    "timeout",
    "circuit_breaker",
    "threshold",
    "max_concurrent",
    "rest",
    "graphql",
    "grpc",
    "bearer",
    "webhook",
    "url",
    "headers",
    "retry",
    "initial_interval",
    "backoff",
]

BLOCK = [
    "require_role",
    "job",
    "trigger",
    "schedule",
    "manual",
    "steps",
    "parallel",
    "activity",
    "input",
    "max_attempts",
    "backoff_multiplier",
    "task",
    "queue",
]

KEYWORDS: tuple[str, ...] = (*SCRIPTING, *M1, *M2, *BLOCK)


def token_name(word: str) -> str:
    """PLY token name of a keyword (each keyword is its own token)."""
    return word.upper()


#: keyword text -> token type
RESERVED: dict[str, str] = {w: token_name(w) for w in KEYWORDS}

ENDPOINT_WORDS = [
    "endpoint",
    "GET",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "request",
    "response",
    "from",
    "body",
    "query",
    "path",
    "header",
    "status",
    "do",
    "where",
    "with",
    "middleware",
    "require_role",
]

WORKFLOW_WORDS = [
    "workflow",
    "job",
    "trigger",
    "event",
    "schedule",
    "manual",
    "timeout",
    "steps",
    "parallel",
    "activity",
    "input",
    "if",
    "retry",
    "max_attempts",
    "initial_interval",
    "backoff_multiplier",
    "task",
    "queue",
]

EVENT_FIELD_EXTRA = [
    "method",
    "type",
    "event",
    "schema",
    "on",
    "do",
    "workflow",
    "emit",
    "async",
    "integration",
    "auth",
    "token",
    "header",
    "value",
    "webhook",
    "url",
    "headers",
    "retry",
    "timeout",
    "text",
]

MODIFIER_EXTRA = [
    "required",
    "optional",
    "unique",
    "primary",
    "auto",
    "default",
    "text",
    "geospatial",
]


def _toks(words) -> list[str]:
    return [token_name(w) for w in words]


_ALL_WORDS = ["IDENT", *_toks(KEYWORDS)]

#: name classes of §1.4.1, as lists of token types
IDENT_CLASS = ["IDENT", *_toks(BLOCK)]
NAME_CLASS = ["IDENT", *_toks(M1), *_toks(M2), *_toks(BLOCK)]
FIELD_NAME_CLASS = [*IDENT_CLASS, *_toks(M1)]
EVENT_FIELD_NAME_CLASS = [*IDENT_CLASS, *_toks(EVENT_FIELD_EXTRA)]
EVENT_TYPE_NAME_CLASS = [*IDENT_CLASS, "TEXT"]
MODIFIER_NAME_CLASS = [*IDENT_CLASS, *_toks(MODIFIER_EXTRA)]
EP_NAME_CLASS = [t for t in _ALL_WORDS if t not in set(_toks(ENDPOINT_WORDS))]
EP_ACTION_CLASS = [t for t in _ALL_WORDS if t not in ("WHERE", "WITH")]
EP_ARG_CLASS = [*_ALL_WORDS, "STRING", "NUMBER"]
WF_NAME_CLASS = [t for t in _ALL_WORDS if t not in set(_toks(WORKFLOW_WORDS))]

assert len(SCRIPTING) == 8 and len(M1) == 47 and len(M2) == 26 and len(BLOCK) == 13
assert len(set(KEYWORDS)) == 94 and len(set(RESERVED.values())) == 94
assert len(ENDPOINT_WORDS) == 19 and len(WORKFLOW_WORDS) == 18
