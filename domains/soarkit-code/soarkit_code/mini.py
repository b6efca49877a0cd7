"""The code domain's mini world for ``soar-mini``: one-line functions of growing length.

Level L = a chain of L operations applied to ``x`` in order (``+k``, ``-k``, ``*k``). The
student must write one expression with the right parentheses: ``x +1 *3 -2`` is
``(x+1)*3-2``. The character-level model has to count and place parentheses over a span that
grows with L -- a real difficulty knob -- and the teacher can still *pose* level-L questions
whose tests (``assert f(1)==...``) it cannot compute. Texts are kept short on purpose.
"""

from __future__ import annotations

import random

from soar_kit.contracts.domain import MiniWorld
from soar_kit.contracts.records import Problem
from soarkit_code.formats import make_problem

LEVELS = 6
HARD_LEVEL = 6
#: Inputs the tests use: two points pin down any chain of +, -, * on integers (it is affine).
TEST_INPUTS = (1, 2)


def chain_expr(ops: list[tuple[str, int]]) -> str:
    """The shortest Python expression applying ``ops`` to ``x`` left to right."""
    expr, is_sum = "x", False
    for op, k in ops:
        if op == "*":
            expr = f"({expr})*{k}" if is_sum else f"{expr}*{k}"
            is_sum = False
        else:
            expr, is_sum = f"{expr}{op}{k}", True
    return expr


def apply_chain(ops: list[tuple[str, int]], x: int) -> int:
    for op, k in ops:
        x = x + k if op == "+" else x - k if op == "-" else x * k
    return x


def make_chain_problem(level: int, rng: random.Random, pid: str = "mini") -> Problem:
    """A level-``level`` problem; deterministic in the state of ``rng``."""
    if not 1 <= level <= LEVELS:
        raise ValueError(f"level must be in 1..{LEVELS}")
    ops: list[tuple[str, int]] = []
    for _ in range(level):
        op = rng.choice("+-*")
        ops.append((op, rng.randint(2, 9) if op == "*" else rng.randint(1, 9)))
    steps = " ".join(f"{op}{k}" for op, k in ops)
    question = f"def f(x):\n# apply to x: {steps}"
    tests = [f"assert f({x})=={apply_chain(ops, x)}" for x in TEST_INPUTS]
    return make_problem(
        pid=pid,
        question=question,
        tests=tests,
        entry_point="f",
        reference=f"def f(x):return {chain_expr(ops)}",
        source="mini",
        extra={"level": level, "ops": [f"{op}{k}" for op, k in ops]},
    )


def mini_solution(problem: Problem) -> str:
    """What a perfect student writes: one line, no fences."""
    raw = problem.data.get("ops") or problem.question.rsplit(":", 1)[-1].split()
    ops = [(s[0], int(s[1:])) for s in raw]
    return f"def f(x):return {chain_expr(ops)}"


def mini_teacher_output(problem: Problem) -> str:
    """What a perfect teacher writes after the teacher prompt: the question and its tests.

    Derived from ``problem.answer`` (the test lines), so a corpus that swaps in another
    problem's answer gets well-formed but wrong tests -- a teacher posing what it cannot solve.
    """
    return f"<question>{problem.question}</question><answer>{problem.answer}</answer>"


def mini_world() -> MiniWorld:
    fields = getattr(MiniWorld, "__dataclass_fields__", {})
    extra = {"teacher_output": mini_teacher_output} if "teacher_output" in fields else {}
    return MiniWorld(
        levels=LEVELS,
        make_problem=lambda level, rng: make_chain_problem(level, rng),
        solution=mini_solution,
        hard_level=HARD_LEVEL,
        **extra,
    )
