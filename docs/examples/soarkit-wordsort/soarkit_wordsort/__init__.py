"""Example soar-kit domain: sort a few words alphabetically.

Small on purpose: it exercises every part of the domain contract (teacher prompt and parser,
student prompt, verifier with shaped reward, seeded problem sets, a mini world for soar-mini,
conformance cases) with nothing domain-specific to get in the way.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from soar_kit import hookimpl
from soar_kit.contracts.domain import ConformanceCases, Domain, MiniWorld, ProblemSet
from soar_kit.contracts.records import Problem, Verdict
from soar_kit.errors import InvalidInput

WORDS = (
    "ant bee cat dog eel fox gnu hen ibis jay kiwi lark mole newt owl pig quail ram seal toad "
    "urchin vole wasp yak zebu"
).split()
MAX_WORDS = 7
_TAG = re.compile(r"<(question|answer)>(.*?)</\1>", re.S)
_WORD = re.compile(r"^[a-z]+$")


def _words(text: str) -> list[str]:
    return text.replace(",", " ").lower().split()


class WordSortDomain(Domain):
    name = "wordsort"
    description = "example plugin: put words in alphabetical order"
    reward_range = (0.0, 1.0)
    default_problem_set = "mixed"

    def __init__(self, partial_credit: float = 0.1) -> None:
        self.partial_credit = partial_credit

    def with_options(self, options: Mapping[str, Any]) -> Domain:
        unknown = set(options) - {"partial_credit"}
        if unknown:
            raise InvalidInput(f"domain 'wordsort': unknown option(s) {', '.join(sorted(unknown))}")
        return WordSortDomain(float(options.get("partial_credit", self.partial_credit)))

    # -- teacher ----------------------------------------------------------------------------------
    def teacher_prompt(self, rng: random.Random) -> str:
        return "New sort task:"

    def parse_teacher_output(self, text: str, *, problem_id: str) -> Problem:
        tags = dict((k, v.strip()) for k, v in _TAG.findall(text))
        if "question" not in tags:
            raise self.reject("missing <question>")
        if "answer" not in tags:
            raise self.reject("missing <answer>")
        words = _words(tags["question"])
        if not 2 <= len(words) <= 12 or not all(_WORD.match(w) for w in words):
            raise self.reject("question is not 2-12 lowercase words")
        if _words(tags["answer"]) != sorted(words):
            # the teacher's answer is checkable here, so a wrong one is rejected outright
            raise self.reject("answer is not the sorted question")
        return self._problem(problem_id, words, source="teacher")

    # -- student ----------------------------------------------------------------------------------
    def student_prompt(self, problem: Problem) -> str:
        return f"Sort: {problem.question}\n"

    def verify(self, problem: Problem, completion: str) -> Verdict:
        match = re.findall(r"<answer>(.*?)</answer>", completion[:10_000], re.S)
        if not match:
            return Verdict(correct=False, reward=0.0, reason="no <answer>")
        got = _words(match[-1])
        if got == _words(problem.answer):
            return Verdict(correct=True, reward=1.0, reason="sorted")
        return Verdict(
            correct=False, reward=self.partial_credit, reason="answer given, wrong order"
        )

    # -- problems ---------------------------------------------------------------------------------
    def _problem(self, pid: str, words: list[str], source: str = "generated") -> Problem:
        return Problem(
            id=pid,
            question=" ".join(words),
            answer=" ".join(sorted(words)),
            domain=self.name,
            data={"level": len(words)},
            source=source,
        )

    def _make(self, level: int, rng: random.Random) -> Problem:
        """Level 1 is two words; each level adds one."""
        words = rng.sample(WORDS, level + 1)
        return self._problem(f"ws-{level}-{'-'.join(words)}", words)

    def problem_sets(self) -> Mapping[str, ProblemSet]:
        def mixed(seed: int, limit: int | None) -> list[Problem]:
            rng = random.Random(seed)
            out = [self._make(rng.randint(1, MAX_WORDS - 1), rng) for _ in range(limit or 100)]
            return [p.model_copy(update={"id": f"mixed-{i}"}) for i, p in enumerate(out)]

        return {"mixed": ProblemSet("mixed", "2-7 words, uniformly mixed", mixed)}

    def problem_from_reference(self, reference: str) -> Problem:
        words = _words(reference)
        if not words:
            raise InvalidInput("reference is empty")
        return self._problem("reference", words, source="user")

    def mini_world(self) -> MiniWorld:
        return MiniWorld(
            levels=MAX_WORDS - 1,
            make_problem=self._make,
            solution=lambda p: f"<answer>{p.answer}</answer>",
            hard_level=MAX_WORDS - 1,
            teacher_output=lambda p: f"<question>{p.question}</question><answer>{p.answer}</answer>",
        )

    def conformance_cases(self) -> ConformanceCases:
        p = self._problem("c1", ["pig", "ant", "fox"])
        return ConformanceCases(
            valid_teacher_outputs=["<question>pig ant fox</question><answer>ant fox pig</answer>"],
            malformed_teacher_outputs=[
                "",
                "<question>pig ant fox</question>",
                "<question>pig ant fox</question><answer>pig ant fox</answer>",
                "<question>Pig 4nt</question><answer>4nt Pig</answer>",
            ],
            right=[(p, "<answer>ant fox pig</answer>"), (p, "hm <answer>ant, fox, pig</answer>")],
            wrong=[(p, "<answer>pig fox ant</answer>"), (p, "ant fox pig")],
        )


@hookimpl
def soarkit_register_domains(register):
    register(WordSortDomain())
