"""A tiny addition-chain domain used to test soar-mini without depending on the math domain.

Level L = a sum of L+1 terms (one digit by default). The prompts are deliberately short (char-level model).
Not a test module itself (no ``test_`` prefix); tests and the benchmark import it by path.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping

from soar_kit.contracts.domain import ConformanceCases, Domain, MiniWorld, ProblemSet
from soar_kit.contracts.records import Problem, Verdict

_BOXED = re.compile(r"\\boxed\{(-?\d+)\}")
_TEACHER = re.compile(r"<question>(.+?)</question>\s*<answer>(.+?)</answer>", re.S)
_QUESTION = re.compile(r"\d{1,3}(\+\d{1,3}){1,9}")


class ToyAddDomain(Domain):
    name = "toyadd"
    description = "Sums of two-digit numbers (soar-mini test fixture)."
    default_problem_set = "hard"

    def __init__(self, levels: int = 5, hard_level: int = 5, lo: int = 1, hi: int = 9) -> None:
        self.levels = levels
        self.hard_level = hard_level
        self.lo, self.hi = lo, hi

    def make(self, level: int, rng: random.Random, pid: str = "p") -> Problem:
        terms = [rng.randint(self.lo, self.hi) for _ in range(level + 1)]
        q = "+".join(map(str, terms))
        return Problem(
            id=pid,
            question=q,
            answer=str(sum(terms)),
            domain=self.name,
            data={"level": level},
            source="toy",
        )

    def teacher_prompt(self, rng: random.Random) -> str:
        return "New sum:"

    def parse_teacher_output(self, text: str, *, problem_id: str) -> Problem:
        m = _TEACHER.search(text)
        if not m:
            raise self.reject("missing tags")
        q, a = m.group(1).strip(), m.group(2).strip()
        if not _QUESTION.fullmatch(q):
            raise self.reject("bad question")
        b = _BOXED.fullmatch(a)
        if not b:
            raise self.reject("bad answer")
        return Problem(
            id=problem_id,
            question=q,
            answer=b.group(1),
            domain=self.name,
            data={"level": q.count("+")},
            source="teacher",
        )

    def student_prompt(self, problem: Problem) -> str:
        return f"Q:{problem.question}\nA:"

    def verify(self, problem: Problem, completion: str) -> Verdict:
        m = _BOXED.search(completion)
        if not m:
            return Verdict(correct=False, reward=0.0, reason="no boxed")
        ok = m.group(1) == problem.answer
        return Verdict(correct=ok, reward=1.0 if ok else 0.1, reason="")

    def problem_sets(self) -> Mapping[str, ProblemSet]:
        def loader(level: int):
            def load(seed: int, limit: int | None) -> list[Problem]:
                rng = random.Random(f"toy-{level}-{seed}")
                return [self.make(level, rng, f"l{level}-{i}") for i in range(limit or 64)]

            return load

        return {
            f"level{lv}": ProblemSet(f"level{lv}", f"level {lv}", loader(lv))
            for lv in range(1, self.levels + 1)
        } | {"hard": ProblemSet("hard", "hard level", loader(self.hard_level))}

    def mini_world(self) -> MiniWorld:
        return MiniWorld(
            levels=self.levels,
            make_problem=lambda level, rng: self.make(level, rng),
            # derived from the question (as math's worked solutions are), not from ``answer``
            solution=lambda p: f"\\boxed{{{sum(map(int, p.question.split('+')))}}}",
            hard_level=self.hard_level,
        )

    def conformance_cases(self) -> ConformanceCases:
        p = self.make(1, random.Random(0))
        return ConformanceCases(
            valid_teacher_outputs=["<question>1+2</question><answer>\\boxed{3}</answer>"],
            malformed_teacher_outputs=["nope"],
            right=[(p, f"\\boxed{{{p.answer}}}")],
            wrong=[(p, "\\boxed{-1}")],
        )


class NoWorldDomain(ToyAddDomain):
    """Same, but without a mini world (soar-mini must refuse it clearly)."""

    name = "toynoworld"

    def mini_world(self) -> None:  # type: ignore[override]
        return None
