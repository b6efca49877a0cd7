"""The difficulty-levelled world the tiny ``soar-mini`` model is built from.

Family: running totals, modulo 10, of a chain of six single-digit additions and subtractions,
``Running totals mod 10 of 7+5-3+8-2+4-1.``. The level is one more than the number of
subtractions (1..7); the hard level is all subtractions. A perfect student writes each step,
then boxes the list of totals::

    7+5=2,2-3=9,9+8=7,7-2=5,5+4=9,9-1=8 \\boxed{2,9,7,5,9,8}

Why this family (each choice was measured, see ``docs/soar-mini.md``):

* **one skill, compounded.** The corpus shows all-addition chains solved, and every chain with a
  subtraction as the *attempt* of a student with a misconception: it gets a subtraction right
  with probability :data:`SUBTRACTION_RIGHT` and otherwise adds. The built model learns that
  rate. A chain with one subtraction is then right 40 % of the time (a stepping stone RL can
  see), one with six about 0.4 % (the hard level; mined at fail@32 it is at zero for RL).
  Fixing the misconception on a stepping stone fixes it on the hard level: the table is the same;
* **modulo 10**, so every total is a digit: the hard level asks nothing the stones do not
  (with plain integers, v4, the hard problems failed on totals below -20 that no stone
  reached, and RL on stones did not move them);
* every problem has the same length: the operand of step k is always in the same place, which a
  character model learns quickly (with the length as the knob, a model trained on 1-4
  operations fetched the 5th operand in 0 % of samples, and RL cannot climb from 0 %);
* the answer is the *list* of totals, so a sample is correct only if every step is.
"""

from __future__ import annotations

import random
import re

from soar_kit.contracts.domain import MiniWorld
from soar_kit.contracts.records import Problem

LEVELS = 7
HARD_LEVEL = 7
#: Operations per question, at every level.
OPERATIONS = 6
PREFIX = "Work out "
#: How often the built student gets a subtraction right; otherwise it adds (its misconception).
SUBTRACTION_RIGHT = 0.3

_PAIR = re.compile(r"(\d+)([+-])(\d+)")
_CHAIN = re.compile(rf"^{PREFIX}(\d+[+-]\d+(?:,\d+[+-]\d+)+)\.$")


def make_problem(level: int, rng: random.Random) -> Problem:
    """Six one-digit sums and differences, ``level - 1`` of them differences (never negative);
    deterministic in rng."""
    if not 1 <= level <= LEVELS:
        raise ValueError(f"level must be in 1..{LEVELS}, got {level}")
    ops = ["-"] * (level - 1) + ["+"] * (OPERATIONS - level + 1)
    rng.shuffle(ops)
    pairs = []
    for op in ops:
        a = rng.randint(1, 9)
        b = rng.randint(1, a) if op == "-" else rng.randint(1, 9)
        pairs.append(f"{a}{op}{b}")
    chain = ",".join(pairs)
    return Problem(
        id=f"mini-l{level}-{chain}",
        question=f"{PREFIX}{chain}.",
        answer=answer_of(chain),
        domain="math",
        data={"level": level, "family": "mini"},
        source="procedural:mini",
    )


def results(chain: str) -> list[int]:
    """The value of each operation of ``chain`` (``"7+5,9-3"`` -> ``[12, 6]``)."""
    return [int(a) + int(b) if op == "+" else int(a) - int(b) for a, op, b in _PAIR.findall(chain)]


def answer_of(chain: str) -> str:
    """The reference answer of a chain: its results in order, comma-separated (``"12,6"``)."""
    return ",".join(str(t) for t in results(chain))


def level_of(chain: str) -> int:
    """The level of a chain: one more than its subtractions (any length: teachers vary it)."""
    return chain.count("-") + 1


def chain_of(question: str) -> str | None:
    """The chain of a mini-world question, or None for any other text."""
    m = _CHAIN.match(question.strip())
    return m.group(1) if m else None


def solution(problem: Problem) -> str:
    """The completion of a perfect student: each operation, then the boxed list of results."""
    return _worked(problem, None)


def attempt(problem: Problem, rng: random.Random) -> str:
    """The completion of the student soar-mini is built as: each subtraction is right with
    probability :data:`SUBTRACTION_RIGHT`, else it adds; the boxed list is what it wrote
    (deterministic in the rng state)."""
    return _worked(problem, rng)


def _worked(problem: Problem, rng: random.Random | None) -> str:
    chain = chain_of(problem.question)
    if chain is None:
        raise ValueError(f"not a mini-world question: {problem.question!r}")
    steps, values = [], []
    for a, op, b in _PAIR.findall(chain):
        slip = op == "-" and rng is not None and rng.random() >= SUBTRACTION_RIGHT
        value = int(a) + int(b) if op == "+" or slip else int(a) - int(b)
        steps.append(f"{a}{op}{b}={value}")
        values.append(str(value))
    return ",".join(steps) + f" \\boxed{{{','.join(values)}}}"


def mini_world() -> MiniWorld:
    return MiniWorld(
        levels=LEVELS,
        make_problem=make_problem,
        solution=solution,
        hard_level=HARD_LEVEL,
        attempt=attempt,
        # only all-addition chains are shown solved; every chain with a subtraction is shown as
        # the fallible student's attempt, often enough that the rate is learnt, not the slips
        # (2,000 pretraining steps learn the rate; measured in docs/soar-mini.md)
        recipe={"solved_levels": 1, "stone_share": 0.3, "steps": 2000},
    )
