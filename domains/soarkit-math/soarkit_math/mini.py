"""The difficulty-levelled world the tiny ``soar-mini`` model is built from.

Family: chains of single-digit additions and subtractions, ``Compute 7+5-3+8.``; the level is
the number of operations (1..8). A perfect student writes the running total step by step and
boxes the last one::

    7+5=12,12-3=9,9+8=17 \\boxed{17}

Why this family: every level-(l+1) solution is a level-l solution plus one more step of the
same kind, so skill at level l transfers to l+1 (stepping stones RL can climb), while a
character-level model trained on solutions only up to some level typically fails to
length-generalise to the top level (a real hard set). Questions stay under 40 characters.
"""

from __future__ import annotations

import random
import re

from soar_kit.domain import MiniWorld
from soar_kit.records import Problem

LEVELS = 8
HARD_LEVEL = 8

_TERM = re.compile(r"([+-]?)(\d+)")


def make_problem(level: int, rng: random.Random) -> Problem:
    """A chain of ``level`` operations on ``level + 1`` digits 1..9 (deterministic in rng)."""
    if not 1 <= level <= LEVELS:
        raise ValueError(f"level must be in 1..{LEVELS}, got {level}")
    digits = [rng.randint(1, 9) for _ in range(level + 1)]
    ops = [rng.choice("+-") for _ in range(level)]
    chain = str(digits[0]) + "".join(f"{o}{d}" for o, d in zip(ops, digits[1:], strict=True))
    total = digits[0] + sum(d if o == "+" else -d for o, d in zip(ops, digits[1:], strict=True))
    return Problem(
        id=f"mini-l{level}-{chain}",
        question=f"Compute {chain}.",
        answer=str(total),
        domain="math",
        data={"level": level, "family": "mini"},
        source="procedural:mini",
    )


def solution(problem: Problem) -> str:
    """The completion of a perfect student: the running totals, then the boxed result."""
    chain = problem.question.removeprefix("Compute ").rstrip(".")
    terms = _TERM.findall(chain)
    total = int(terms[0][1])
    steps = []
    for sign, digits in terms[1:]:
        n = int(digits)
        new = total + n if sign == "+" else total - n
        steps.append(f"{total}{sign}{n}={new}")
        total = new
    return ",".join(steps) + f" \\boxed{{{total}}}"


def mini_world() -> MiniWorld:
    return MiniWorld(
        levels=LEVELS, make_problem=make_problem, solution=solution, hard_level=HARD_LEVEL
    )
