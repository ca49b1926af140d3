"""Tools that need nothing but the process: calculator and current_time."""

from __future__ import annotations

import ast
import operator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.tools.runtime import ToolContext, ToolInputError

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 10**100


def _evaluate(node: ast.AST) -> int | float:
    """Walks the parsed expression; anything but numbers and arithmetic is refused (no eval)."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ToolInputError(f"exponent {right} is too large (limit {MAX_EXPONENT})")
        try:
            value = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ToolInputError("division by zero") from None
        if isinstance(value, complex) or abs(value) > MAX_MAGNITUDE:
            raise ToolInputError("result is out of range")
        return value
    raise ToolInputError(f"unsupported element in expression: {type(node).__name__}")


async def calculator(arguments: dict[str, Any], context: ToolContext) -> str:
    try:
        tree = ast.parse(arguments["expression"], mode="eval")
    except SyntaxError:
        raise ToolInputError("not an arithmetic expression") from None
    value = _evaluate(tree)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return str(value)


async def current_time(arguments: dict[str, Any], context: ToolContext) -> str:
    name = arguments.get("timezone") or context.timezone or "UTC"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolInputError(f"unknown time zone {name!r}") from None
    now = datetime.now(UTC).astimezone(zone)
    return f"{now.isoformat(timespec='seconds')} ({name}, {now:%A})"
