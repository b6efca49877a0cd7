"""The difficulty-levelled world the tiny ``soar-mini`` model is built from.

Family: six one-digit sums and differences, ``Work out 7+5,9-3,8-6,4+4,6-2,9-9.`` (a difference
is never negative). The level is one more than the number of differences (1..7); the hard level
is all differences. A perfect student writes each operation, then boxes the ordered list of
results::

    7+5=12,9-3=6,8-6=2,4+4=8,6-2=4,9-9=0 \\boxed{12,6,2,8,4,0}

Why this family (each choice was measured, see ``docs/soar-mini.md``):

* **one skill, compounded.** The corpus shows all-sum questions solved, and every question with
  a difference as the *attempt* of a student with a misconception: it gets a difference right
  with probability :data:`SUBTRACTION_RIGHT` and otherwise adds. The built model learns that
  rate: one difference is right 20 % of the time (a stepping stone RL can see), six about
  0.006 % (the hard level; mined at fail@32 it is at zero for RL). Fixing the misconception on a
  stepping stone fixes it on the hard level: it is the same operation;
* **a teacher that knows more than its student** (the paper's latent knowledge): the same
  model, answering a question it poses in the teacher format, makes the mistake less often
  (:data:`TEACHER_SUBTRACTION_RIGHT`), so under the paper's rule (the teacher's answer is the
  reference) its stepping stones carry mostly right answers and can teach;
* every question has the same length: the operand of step k is always in the same place, which
  a character model learns quickly;
* the answer is the *list* of results, so a sample is correct only if every step is.
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
SUBTRACTION_RIGHT = 0.2
#: How often the built model gets a subtraction right when it answers a question it poses as a
#: teacher: the skill is latent, there but not reached in the student's format. Compounded it
#: is 85 % right on a one-difference stone, 38 % on the hard level (the paper's PQ answers: 33 %
#: right).
TEACHER_SUBTRACTION_RIGHT = 0.85

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
    return _worked(problem, rng, right=SUBTRACTION_RIGHT)


def teacher_attempt(problem: Problem, rng: random.Random) -> str:
    """The worked answer of the teacher soar-mini is built as: the same misconception, made
    less often (each subtraction right with probability :data:`TEACHER_SUBTRACTION_RIGHT`)."""
    return _worked(problem, rng, right=TEACHER_SUBTRACTION_RIGHT)


def _worked(problem: Problem, rng: random.Random | None, right: float = 1.0) -> str:
    chain = chain_of(problem.question)
    if chain is None:
        raise ValueError(f"not a mini-world question: {problem.question!r}")
    steps, values = [], []
    for a, op, b in _PAIR.findall(chain):
        slip = op == "-" and rng is not None and rng.random() >= right
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
        teacher_attempt=teacher_attempt,
        # only all-addition chains are shown solved; every chain with a subtraction is shown as
        # the fallible student's attempt, often enough that the rate is learnt, not the slips
        # (2,000 pretraining steps learn the rate; measured in docs/soar-mini.md)
        recipe={"solved_levels": 1, "stone_share": 0.3, "steps": 2000},
    )
