"""The difficulty-levelled world the tiny ``soar-mini`` model is built from.

Family: running totals of a chain of six single-digit additions and subtractions,
``Running totals of 7+5-3+8-2+4-1.``. The level is one more than the number of subtractions
(1..7); the hard level is all subtractions. A perfect student writes each step, then boxes the
list of totals::

    7+5=12,12-3=9,9+8=17,17-2=15,15+4=19,19-1=18 \\boxed{12,9,17,15,19,18}

Why this family (each choice was measured, see ``docs/soar-mini.md``):

* the difficulty is a *skill*, not a length. Subtracting from a negative total (``-3-6=-9``)
  only happens after two subtractions; the corpus shows it solved rarely, so the built model is
  unsure of it, and an all-subtraction chain needs it four or five times in a row. Practising
  it on chains with a few subtractions (stepping stones) transfers to the hard level;
* every problem has the same length: the operand of step k is always in the same place, which a
  character model learns quickly. (With the length as the knob, a model trained on 1-4
  operations fetched the 5th operand in 0 % of samples, and RL cannot climb from 0 %);
* the answer is the *list* of totals, so a sample is correct only if every step is: a model that
  fails the hard level cannot hit its answer by chance (with a single final total, a 2%-accurate
  model "solved" 16 of 32 hard problems at k=32 by guessing numbers near the right one).
"""

from __future__ import annotations

import random
import re

from soar_kit.domain import MiniWorld
from soar_kit.records import Problem

LEVELS = 7
HARD_LEVEL = 7
#: Operations per chain, at every level.
OPERATIONS = 6
PREFIX = "Running totals of "

_TERM = re.compile(r"([+-]?)(\d+)")
_CHAIN = re.compile(r"^Running totals of (\d+(?:[+-]\d+)+)\.$")


def make_problem(level: int, rng: random.Random) -> Problem:
    """Six operations on digits 1..9, ``level - 1`` of them subtractions (deterministic in rng)."""
    if not 1 <= level <= LEVELS:
        raise ValueError(f"level must be in 1..{LEVELS}, got {level}")
    digits = [rng.randint(1, 9) for _ in range(OPERATIONS + 1)]
    ops = ["-"] * (level - 1) + ["+"] * (OPERATIONS - level + 1)
    rng.shuffle(ops)
    chain = str(digits[0]) + "".join(f"{o}{d}" for o, d in zip(ops, digits[1:], strict=True))
    return Problem(
        id=f"mini-l{level}-{chain}",
        question=f"{PREFIX}{chain}.",
        answer=answer_of(chain),
        domain="math",
        data={"level": level, "family": "mini"},
        source="procedural:mini",
    )


def running_totals(chain: str) -> list[int]:
    """The totals after each operation of ``chain`` (``"7+5-3"`` -> ``[12, 9]``)."""
    terms = _TERM.findall(chain)
    total = int(terms[0][1])
    out = []
    for sign, digits in terms[1:]:
        total = total + int(digits) if sign == "+" else total - int(digits)
        out.append(total)
    return out


def answer_of(chain: str) -> str:
    """The reference answer of a chain: its running totals, comma-separated (``"12,9"``)."""
    return ",".join(str(t) for t in running_totals(chain))


def level_of(chain: str) -> int:
    """The level of a chain: one more than its subtractions (any length: teachers vary it)."""
    return chain.count("-") + 1


def chain_of(question: str) -> str | None:
    """The chain of a mini-world question, or None for any other text."""
    m = _CHAIN.match(question.strip())
    return m.group(1) if m else None


def solution(problem: Problem) -> str:
    """The completion of a perfect student: each step, then the boxed list of totals."""
    chain = chain_of(problem.question)
    if chain is None:
        raise ValueError(f"not a mini-world question: {problem.question!r}")
    terms = _TERM.findall(chain)
    total = int(terms[0][1])
    steps = []
    for sign, digits in terms[1:]:
        n = int(digits)
        new = total + n if sign == "+" else total - n
        steps.append(f"{total}{sign}{n}={new}")
        total = new
    return ",".join(steps) + f" \\boxed{{{answer_of(chain)}}}"


def mini_world() -> MiniWorld:
    return MiniWorld(
        levels=LEVELS, make_problem=make_problem, solution=solution, hard_level=HARD_LEVEL
    )
