"""``to_json``: the JSON (dict) form of an AST (spec §3)."""

from __future__ import annotations

import json
from decimal import Decimal

from .nodes import Node, Param, Program

_FLOAT_INT_LIMIT = 1e21


def number_value(value: float) -> int | float:
    """Floats are emitted as ``int`` when integral and below 1e21 in magnitude (§3.1)."""
    if abs(value) < _FLOAT_INT_LIMIT and value == int(value):
        return int(value)
    return value


def to_json(program: Program) -> dict:
    """Return the §3 dict tree of ``program``: every node is ``{"Kind", <fields>, "Pos"}``.

    Iterative (explicit stack), so any nesting depth is safe. Each node's dict is created with
    all its keys in order; child nodes are converted later and stored into their slot.
    """
    position = program.position
    root: dict = {}
    stack: list = [(program, None, None)]
    pop = stack.pop
    push = stack.append
    while stack:
        node, container, slot = pop()
        out = {"Kind": node.KIND}
        for key, attr in node.FIELDS:
            value = getattr(node, attr)
            vtype = type(value)
            if vtype is list:
                items = []
                for i, item in enumerate(value):
                    if isinstance(item, Node):
                        items.append(None)
                        push((item, items, i))
                    elif type(item) is Param:
                        items.append({"Name": item.name, "Type": "", "Default": None})
                    else:
                        items.append(item)
                out[key] = items
            elif vtype is dict:
                mapping = {}
                for name in sorted(value):
                    mapping[name] = None
                    push((value[name], mapping, name))
                out[key] = mapping
            elif vtype is float:
                out[key] = number_value(value)
            elif isinstance(value, Node):
                out[key] = None
                push((value, out, key))
            else:
                out[key] = value
        line, column = position(node.pos)
        out["Pos"] = {"Line": line, "Column": column}
        if container is None:
            root = out
        else:
            container[slot] = out
    root["Pos"] = {"Line": 1, "Column": 1}
    return root


def float_text(value: float) -> str:
    """JSON text of a float as §3.1 describes: plain decimal when 1e-6 <= |v| < 1e21, else
    exponent form (``1e-07``, ``1e+21``); shortest round-trip digits either way."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} has no JSON representation")
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    magnitude = abs(value)
    if 1e-6 <= magnitude < _FLOAT_INT_LIMIT:
        return format(Decimal(repr(value)), "f")
    mantissa, _, exponent = f"{value!r}".partition("e")
    if not exponent:  # repr gave plain notation; force the exponent form
        mantissa, _, exponent = f"{value:e}".partition("e")
        mantissa = repr(float(mantissa))
    mantissa = mantissa.removesuffix(".0")
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{int(exponent.lstrip('+-')):02d}"


def to_json_text(value: Program | dict, *, indent: int | None = None) -> str:
    """Serialise ``to_json(program)`` (or an already converted tree) to JSON text.

    Same as ``json.dumps(tree, ensure_ascii=False, indent=indent)`` except that floats are
    written as §3.1 prescribes (``0.000001`` rather than Python's ``1e-06``).
    """
    tree = to_json(value) if isinstance(value, Program) else value
    parts: list[str] = []
    newline = indent is not None
    item_sep = "," if newline else ", "

    def emit(item, level: int) -> None:
        if isinstance(item, dict):
            if not item:
                parts.append("{}")
                return
            parts.append("{")
            for i, (key, sub) in enumerate(item.items()):
                if i:
                    parts.append(item_sep)
                if newline:
                    parts.append("\n" + " " * (indent * (level + 1)))
                parts.append(json.dumps(str(key), ensure_ascii=False) + ": ")
                emit(sub, level + 1)
            if newline:
                parts.append("\n" + " " * (indent * level))
            parts.append("}")
        elif isinstance(item, list):
            if not item:
                parts.append("[]")
                return
            parts.append("[")
            for i, sub in enumerate(item):
                if i:
                    parts.append(item_sep)
                if newline:
                    parts.append("\n" + " " * (indent * (level + 1)))
                emit(sub, level + 1)
            if newline:
                parts.append("\n" + " " * (indent * level))
            parts.append("]")
        elif isinstance(item, float):
            parts.append(float_text(item))
        else:
            parts.append(json.dumps(item, ensure_ascii=False))

    emit(tree, 0)
    return "".join(parts)
