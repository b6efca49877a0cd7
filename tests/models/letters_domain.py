"""A domain a random tiny model can score on: "write the letter c" (test fixture, not a product).

Why it exists: the engine tests need a whole SOAR run whose students measurably change, on a
model that vLLM's CPU kernels accept (head size >= 32; soar-mini's is 16). A random tiny Llama
fails every math problem, so its gains would be 0 with a stale engine and a fresh one alike;
here it writes the asked-for letter within its first few characters now and then (~5 %), so RL
moves it and a student's Q_R success differs from the baseline's, while a stale engine gives
exactly the baseline's samples (same seeds) and gains of exactly 0.
Not a test module itself (no ``test_`` prefix); tests import it by path.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping

from soar_kit.contracts.domain import ConformanceCases, Domain, ProblemSet
from soar_kit.contracts.records import Problem, Verdict

_LETTER = re.compile(r"[a-z]")
WINDOW = 6


class LettersDomain(Domain):
    name = "letters"
    description = "Write the asked-for letter within the first characters (engine test fixture)."
    default_problem_set = "all"

    def teacher_prompt(self, rng: random.Random) -> str:
        return "letter:"

    def parse_teacher_output(self, text: str, *, problem_id: str) -> Problem:
        m = _LETTER.search(text)
        if not m:
            raise self.reject("no letter")
        c = m.group(0)
        return Problem(id=problem_id, question=c, answer=c, domain=self.name, source="teacher")

    def student_prompt(self, problem: Problem) -> str:
        return f"{problem.question}:"

    def verify(self, problem: Problem, completion: str) -> Verdict:
        ok = problem.answer in completion[:WINDOW]
        return Verdict(correct=ok, reward=1.0 if ok else 0.0, reason="")

    def problem_sets(self) -> Mapping[str, ProblemSet]:
        def load(seed: int, limit: int | None) -> list[Problem]:
            rng = random.Random(f"letters-{seed}")
            return [
                Problem(id=f"l{i}", question=c, answer=c, domain=self.name, source="letters")
                for i, c in enumerate(rng.choice(string.ascii_lowercase) for _ in range(limit or 64))
            ]

        return {"all": ProblemSet("all", "random letters", load)}

    def conformance_cases(self) -> ConformanceCases:
        p = Problem(id="c", question="c", answer="c", domain=self.name)
        return ConformanceCases(
            valid_teacher_outputs=["c"],
            malformed_teacher_outputs=["123"],
            right=[(p, "xc")],
            wrong=[(p, "xxxxxxxc")],
        )
