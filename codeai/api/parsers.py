"""The only request parser: JSON objects, strictly."""

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StrictJSONParser(JSONParser):
    """Reject malformed, non-object, NaN/Infinity and pathologically nested JSON with 400."""

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
        return data


def _reject_constant(value: str):
    raise ValueError(f"{value} is not valid JSON")
