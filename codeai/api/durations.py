"""Durations in and out of the API: strings like `30s`, `5m`, `1h30m`, `2d`."""

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)(ms|d|h|m|s)", re.ASCII)  # "٣٠s" is not 30 s
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
MAX_DURATION = timedelta(days=365)


def parse_duration(text: str) -> timedelta:
    """Parse `1h30m`-style text; ValueError for anything else (empty, signs, unknown units)."""
    if not isinstance(text, str) or not text or len(text) > 64:
        raise ValueError("invalid duration")
    position, seconds = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            raise ValueError("invalid duration")
        seconds += int(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or seconds <= 0:
        raise ValueError("invalid duration")
    value = timedelta(seconds=seconds)
    if value > MAX_DURATION:
        raise ValueError("duration too long")
    return value


def format_duration(value: timedelta | float | None) -> str | None:
    """`timedelta(seconds=5400)` → `1h30m`; whole seconds, the largest units first."""
    if value is None:
        return None
    total = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if total <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
