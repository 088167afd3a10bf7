"""The only request parser: JSON objects, strictly."""

import json
import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Deep enough for any real document; shallow enough that saving, serializing and rendering it
# never come near Python's recursion limit.
MAX_JSON_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


class StrictJSONParser(JSONParser):
    """Reject malformed, non-object, NaN/Infinity and pathologically nested JSON with 400, and
    text the database cannot store (NUL, lone surrogates) with a 400 naming the field."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError("invalid JSON body") from exc
        if not isinstance(data, dict):
            raise ParseError("request body must be a JSON object")
        problems = {}
        for key, value in data.items():
            problem = json_text_problem(key) or json_text_problem(value, depth=1)
            if problem:
                problems[key] = problem
        if problems:
            from .exceptions import ValidationFailed  # imports DRF's views, which import us

            raise ValidationFailed(problems)
        return data


def json_text_problem(value: Any, *, depth: int = 0) -> str | None:
    """Why this JSON value cannot be stored: too deep, or a NUL or lone surrogate in a key or
    string (PostgreSQL refuses both, and its error would quote the row into a 500's log)."""
    pending = [(value, depth)]
    while pending:  # iterative: the depth check must not itself recurse
        item, level = pending.pop()
        if isinstance(item, dict | list):
            if level >= MAX_JSON_DEPTH:
                return f"must be nested at most {MAX_JSON_DEPTH} levels deep"
            children = [*item, *item.values()] if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
        elif isinstance(item, str):
            if "\0" in item:
                return "must not contain NUL characters"
            if _SURROGATE.search(item):
                return "must not contain surrogate characters"
    return None


def _reject_constant(value: str):
    raise ValueError(f"{value} is not valid JSON")
