"""Computed answers for teacher questions, for the tasks whose questions can be solved safely.

SOAR's teacher writes a question *and* its answer, often wrong. Where a task's question is a
template around a small integer expression (``chain_sum``, ``products``),
the domain can read the expression back with the generator's own template and compute the true
answer, then judge the teacher's answer with the task's scorer against it
(``domain.options.answers = "solver"``, like the math domain's).

The expression is model text, so it is never ``eval``-ed: :func:`integer_value` walks the
``ast`` of a literal-and-operator expression itself, with bounds on size and magnitude.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from fractions import Fraction

_MAX_CHARS = 400
_MAX_NODES = 200
_MAX_BITS = 4096  # 400 characters of + - * / stay far below it; a guard, not a knob


class Unsolvable(ValueError):
    """The question is not one this solver reads (wrong template, bad or huge expression)."""


def integer_value(expression: str) -> Fraction:
    """Exact value of ``+ - * /`` over integer literals (``/`` exact; ``÷`` and ``×`` allowed)."""
    text = expression.replace("×", "*").replace("÷", "/").replace("−", "-").strip()
    if not text or len(text) > _MAX_CHARS or not re.fullmatch(r"[\d\s+\-*/()]+", text):
        raise Unsolvable("not an integer expression")
    if "**" in text or "//" in text:
        raise Unsolvable("only + - * / are read")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise Unsolvable("expression does not parse") from exc
    if sum(1 for _ in ast.walk(tree)) > _MAX_NODES:
        raise Unsolvable("expression too long")
    return _value(tree.body)


def _value(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return Fraction(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _value(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
        a, b = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Add):
            v = a + b
        elif isinstance(node.op, ast.Sub):
            v = a - b
        elif isinstance(node.op, ast.Mult):
            v = a * b
        else:
            if b == 0:
                raise Unsolvable("division by zero")
            v = a / b
        if max(abs(v.numerator).bit_length(), v.denominator.bit_length()) > _MAX_BITS:
            raise Unsolvable("value too large")
        return v
    raise Unsolvable(f"unsupported syntax {type(node).__name__}")


def _integer_answer(value: Fraction) -> str:
    if value.denominator != 1:
        raise Unsolvable("the expression has no integer value")
    return str(value.numerator)


def _between(prefix: str, suffix: str) -> Callable[[str], str]:
    pattern = re.compile(re.escape(prefix) + r"(.+?)" + re.escape(suffix) + r"\s*$", re.S)

    def solve(question: str) -> str:
        m = pattern.search(question.strip())
        if not m:
            raise Unsolvable("the question does not follow the task's template")
        return _integer_answer(integer_value(m.group(1)))

    return solve


#: task -> question -> the task's reference answer text.
SOLVERS: dict[str, Callable[[str], str]] = {
    "chain_sum": _between("State the final answer to the following arithmetic problem:", "="),
    "products": _between(
        "Solve the following multiplication:", ". Give only the result as your final answer."
    ),
}
