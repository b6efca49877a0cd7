"""``MathDomain``: prompts, teacher-output parser, verifier with reward shaping, problem sets."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Any, ClassVar

from soar_kit.contracts.domain import ConformanceCases, Domain, MiniWorld, ProblemSet
from soar_kit.contracts.records import Problem, Verdict
from soar_kit.errors import InvalidInput, ProblemRejected
from soarkit_math import files, mini, problems
from soarkit_math.extract import (
    final_answer,
    final_boxed,
    last_number,
    plain_teacher_fields,
    teacher_fields,
)
from soarkit_math.normalize import strip_math
from soarkit_math.verifier import DEFAULT_TIMEOUT_S, Check, Verifier

#: Kept short on purpose: the tiny ``soar-mini`` model sees these in front of everything.
TEACHER_PROMPT = "Write a new math problem: <question>...</question><answer>\\boxed{...}</answer>"
#: The instruction comes *before* the question, so the question's last characters sit right
#: before the solution: a character model copies operands over a few characters instead of
#: across the instruction (measured on soar-mini: level-1 greedy accuracy 42 % with the
#: instruction after the question, 100 % with it before, same budget).
STUDENT_PREFIX = "Put the final answer in \\boxed{}.\n"

#: ``prompt = "paper"``: what SOAR's App. B.1 prompt carries (the MATH topics, the exact output
#: structure with a boxed answer, reasoning outside the tags), in our words and with no example
#: question: the paper found seed questions collapse the diversity of what the teacher poses.
MATH_TOPICS = (
    "Algebra, Counting & Probability, Geometry, Intermediate Algebra, Number Theory, "
    "Prealgebra, Precalculus"
)
PAPER_TEACHER_PROMPT = (
    "You are writing a new practice problem for a math assistant. Choose a topic from the "
    f"MATH benchmark ({MATH_TOPICS}) and write one new problem with a single final answer.\n"
    "Give it in exactly this structure:\n"
    "<question>the problem</question>\n"
    "<answer>\\boxed{the final answer}</answer>\n"
    "Put any reasoning outside the tags."
)
#: ``format = "plain"``: labelled lines instead of tags, for a model too small to close tags
#: (SmolLM2-135M closed them in 0 of 16 tries, #18's probe).
PLAIN_TEACHER_PROMPTS = {
    "compact": "Write a new math problem and its answer.\nQuestion: ...\nAnswer: ...",
    "paper": (
        "You are writing a new practice problem for a math assistant. Choose a topic from the "
        f"MATH benchmark ({MATH_TOPICS}) and write one new problem with a single final answer "
        "(a number or a short expression).\n"
        "Give it in exactly this structure, one line each:\n"
        "Question: the problem\n"
        "Answer: the final answer"
    ),
}
#: ``examples = k``: k of these (drawn per prompt, so no single seed question dominates) shown
#: in the teacher prompt in the run's format. Off by default, as in the paper, whose seed
#: questions collapsed diversity; an option for models that cannot meet the format without one
#: (docs/results-smollm2.md measures both acceptance and the diversity it costs).
EXAMPLE_PROBLEMS = (
    ("What is the remainder when 47 is divided by 5?", "2"),
    ("Simplify $3(x + 4) - 2x$.", "x + 12"),
    ("In how many ways can 2 marbles be chosen from a bag of 8 marbles?", "28"),
    ("What is the area of a rectangle with sides 6 and 9?", "54"),
    ("Solve for $x$: $2x + 7 = 19$.", "6"),
    ("What is 15% of 80?", "12"),
    ("What is the sum of the roots of $x^2 - 5x + 6 = 0$?", "5"),
    ("What is $\\cos(0) + \\sin(\\pi/2)$?", "2"),
)


def _key(question: str) -> str:
    return " ".join(question.lower().replace("$", "").split()).rstrip("?.")


_EXAMPLE_KEYS = tuple(_key(q) for q, _ in EXAMPLE_PROBLEMS)


def _copies_example(question: str) -> bool:
    """An example verbatim, or an example with text added after it ("What is 15% of 80 using
    only division?"); a question that changes the example's numbers is the teacher's own."""
    key = _key(question)
    return any(key == k or key.startswith(k + " ") for k in _EXAMPLE_KEYS)


#: The plain format's student instruction: a small model meets "just the answer" more often
#: than a ``\boxed{}`` (SmolLM2 boxed 4 of 48 answers), and its last number is read when it
#: writes no marked answer.
PLAIN_STUDENT_SUFFIX = "\nGive the final answer at the end, as: Answer: <answer>"


@dataclass(frozen=True)
class MathOptions:
    """``domain.options`` of a run (all optional). Rewards follow SOAR.md (paper: 120/20/10/0).

    ``require_boxed``: only a ``\\boxed{}`` answer can be correct (the paper's rule); if false,
    an ``<answer>`` tag or "The answer is ..." also counts, rewarded as ``reward_correct``.
    ``files``: extra problem sets from MATH-format files, ``{name: path}``.
    ``answers``: whose answer a teacher-written problem carries. ``"teacher"`` (the paper's
    rule): the teacher's own, often wrong. ``"solver"``: where the domain can compute the answer
    itself (today: soar-mini's questions), the computed one replaces the teacher's,
    so a teacher is judged only on which questions it poses (DESIGN.md suggests comparing both).
    ``prompt``: ``"compact"`` (written for the character-level soar-mini, which sees it in front
    of everything) or ``"paper"`` (the paper's App. B.1 content, for pretrained models).
    ``format``: ``"tags"`` (the paper's ``<question>``/``<answer>\\boxed{}`` and a boxed student
    answer) or ``"plain"`` (``Question:``/``Answer:`` lines, and the student's marked answer
    or else its last number is judged: a format a 135M model can meet).
    ``examples``: how many example problems (of :data:`EXAMPLE_PROBLEMS`, drawn per prompt)
    the teacher prompt shows; 0 (the paper's choice) shows none.
    ``open_turn``: start the teacher's turn with the format's opening (``<question>`` or
    ``Question:``), so the model continues a problem instead of deciding whether to write one.
    """

    reward_correct: float = 1.2
    reward_mentioned: float = 0.2
    reward_boxed_wrong: float = 0.1
    reward_unboxed: float = 0.0
    require_boxed: bool = True
    timeout: float = DEFAULT_TIMEOUT_S
    files: Mapping[str, Any] | None = None  # name -> path, or a table with a column mapping
    answers: str = "teacher"
    prompt: str = "compact"
    format: str = "tags"
    open_turn: bool = False
    examples: int = 0


_CHOICES = {
    "answers": ("teacher", "solver"),
    "prompt": ("compact", "paper"),
    "format": ("tags", "plain"),
}


@lru_cache(maxsize=8)
def _verifier(timeout: float) -> Verifier:
    # Module-level so MathDomain stays a plain picklable object for worker processes.
    return Verifier(timeout=timeout)


def _mentions(text: str, reference: str) -> bool:
    """Does ``reference`` appear in ``text`` as a whole token (``2`` is not found in ``12``)?"""
    for candidate in {reference.strip(), strip_math(reference)}:
        if not candidate:
            continue
        pattern = r"(?<![\w.])" + re.escape(candidate) + r"(?!\w|\.\d)"
        if re.search(pattern, text):
            return True
    return False


def _int_list(text: str) -> list[int] | None:
    """``"12, 9,-3"`` -> ``[12, 9, -3]``; None unless every item is a plain integer."""
    items = [t.strip() for t in text.split(",")]
    if not all(re.fullmatch(r"[+-]?\d{1,12}", t) for t in items):
        return None
    return [int(t) for t in items]


class MathDomain(Domain):
    """Competition-style math with a symbolic verifier (SOAR.md's setting)."""

    name: ClassVar[str] = "math"
    description: ClassVar[str] = (
        "math word problems; answers in \\boxed{}, checked by a budgeted SymPy verifier"
    )
    reward_range: ClassVar[tuple[float, float]] = (0.0, 1.2)
    default_problem_set: ClassVar[str] = "mixed"

    def __init__(self, options: MathOptions | None = None) -> None:
        self.options = options or MathOptions()
        o = self.options
        rewards = (o.reward_correct, o.reward_mentioned, o.reward_boxed_wrong, o.reward_unboxed)
        # instance attribute shadows the ClassVar: custom rewards keep the contract true
        self.reward_range = (min(rewards), max(rewards))  # type: ignore[misc]

    def with_options(self, options: Mapping[str, Any]) -> MathDomain:
        known = set(asdict(MathOptions()))
        options = dict(options)
        for key in [k for k in options if k.startswith("files.")]:
            # ``--option files.mine=path.jsonl`` on the command line
            files_opt = dict(options.get("files") or {})
            files_opt[key[len("files.") :]] = options.pop(key)
            options["files"] = files_opt
        unknown = sorted(set(options) - known)
        if unknown:
            raise InvalidInput(
                f"domain 'math' has no option(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        values = dict(options)
        try:
            for key in (
                "reward_correct",
                "reward_mentioned",
                "reward_boxed_wrong",
                "reward_unboxed",
                "timeout",
            ):
                if key in values:
                    values[key] = float(values[key])
            if "examples" in values:
                if isinstance(values["examples"], bool) or not isinstance(values["examples"], int):
                    raise ValueError("examples must be a whole number")
                if not 0 <= values["examples"] <= len(EXAMPLE_PROBLEMS):
                    raise ValueError(f"examples must be 0-{len(EXAMPLE_PROBLEMS)}")
            for key in ("require_boxed", "open_turn"):
                if key in values and not isinstance(values[key], bool):
                    raise ValueError(f"{key} must be true or false")
            for key, allowed in _CHOICES.items():
                if key in values and values[key] not in allowed:
                    raise ValueError(
                        f"{key} must be {' or '.join(repr(a) for a in allowed)}, "
                        f"got {values[key]!r}"
                    )
            if "files" in values and values["files"] is not None:
                values["files"] = {
                    str(k): dict(v) if isinstance(v, Mapping) else str(v)
                    for k, v in dict(values["files"]).items()
                }
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"domain 'math': bad option value: {exc}") from exc
        if values.get("timeout", 1.0) <= 0:
            raise InvalidInput("domain 'math': timeout must be positive")
        return MathDomain(replace(self.options, **values))

    @property
    def verifier(self) -> Verifier:
        return _verifier(self.options.timeout)

    # -- teacher ----------------------------------------------------------------------------
    def teacher_prompt(self, rng: random.Random) -> str:
        o, fmt = self.options, self._format
        prompt = fmt.teacher_prompts[o.prompt]
        if not o.examples:
            return prompt
        lines = [fmt.example(q, a) for q, a in rng.sample(EXAMPLE_PROBLEMS, o.examples)]
        word = "Example" if o.examples == 1 else "Examples"
        return f"{prompt}\n\n{word} (write a different problem):\n" + "\n\n".join(lines)

    def teacher_opening(self) -> str:
        return self._format.opening if self.options.open_turn else ""

    def parse_teacher_output(self, text: str, *, problem_id: str) -> Problem:
        try:
            question, answer = self._format.teacher_fields(text)
        except ValueError as exc:
            raise ProblemRejected(str(exc)) from exc
        if len(question) > 4000:
            raise ProblemRejected("question too long")
        if self.options.examples and _copies_example(question):
            # the prompt asks for a *new* problem; a copied example teaches nothing new and
            # would let the examples stand in for the teacher's own questions
            raise ProblemRejected("copies an example")
        check = self.verifier.parseable(answer)
        if check.status == "timeout":
            raise ProblemRejected("answer timeout")
        if not check.equal:
            raise ProblemRejected("answer unparseable")
        data: dict[str, Any] = {}
        chain = mini.chain_of(question)
        if chain is not None:
            # a mini-world question: its level is known (reports show what the teacher poses)
            # and its true answer can be computed without evaluating any model text
            data = {"level": mini.level_of(chain), "family": "mini"}
            truth = mini.answer_of(chain)
            data["teacher_answer_correct"] = _int_list(answer) == _int_list(truth)
            if self.options.answers == "solver":
                answer = truth
        return Problem(
            id=problem_id,
            question=question,
            answer=answer,
            domain=self.name,
            source="teacher",
            data=data,
        )

    # -- student ----------------------------------------------------------------------------
    def student_prompt(self, problem: Problem) -> str:
        return self._format.student_prompt(problem.question)

    def verify(self, problem: Problem, completion: str) -> Verdict:
        """Shaped reward (SOAR.md), by the format's rule; never raises on completion text."""
        try:
            return self._format.rule(self, problem, completion)
        except Exception as exc:  # the contract: never raise on completion text
            return Verdict(
                correct=False,
                reward=self.options.reward_unboxed,
                reason=f"verifier error: {type(exc).__name__}",
            )

    def _verify_tags(self, problem: Problem, completion: str) -> Verdict:
        """The paper's rule: boxed+correct / boxed, reference in text / boxed / none."""
        o = self.options
        boxed = final_boxed(completion)
        if boxed is None:
            if not o.require_boxed:
                found = final_answer(completion)
                if found is not None:
                    check = self._compare(problem, found[0])
                    if check.equal:
                        return Verdict(
                            correct=True,
                            reward=o.reward_correct,
                            reason=f"correct ({found[1]}, not boxed)",
                        )
            return Verdict(correct=False, reward=o.reward_unboxed, reason="nothing boxed")
        check = self._compare(problem, boxed.content)
        if check.equal:
            return Verdict(correct=True, reward=o.reward_correct, reason="correct")
        outside = completion[: boxed.start] + " " + completion[boxed.end :]
        why = check.status if check.status != "different" else "wrong"
        if check.detail:
            why += f": {check.detail}"
        if _mentions(outside, problem.answer):
            return Verdict(
                correct=False,
                reward=o.reward_mentioned,
                reason=f"boxed {why}; reference in text",
            )
        return Verdict(correct=False, reward=o.reward_boxed_wrong, reason=f"boxed {why}")

    def _verify_plain(self, problem: Problem, completion: str) -> Verdict:
        """The plain format's rule: the marked answer (box, tag, "Answer: ...") is judged,
        else the last number of the text. The shaping keeps the paper's order: right, a marked
        wrong answer that mentions the reference, a marked wrong answer, nothing marked."""
        o = self.options
        found = final_answer(completion)
        if found is None:
            number = last_number(completion)
            if number is not None and self._compare(problem, number).equal:
                return Verdict(
                    correct=True, reward=o.reward_correct, reason="correct (last number)"
                )
            return Verdict(correct=False, reward=o.reward_unboxed, reason="no marked answer")
        if self._compare(problem, found[0]).equal:
            return Verdict(correct=True, reward=o.reward_correct, reason=f"correct ({found[1]})")
        if _mentions(completion, problem.answer):
            return Verdict(
                correct=False, reward=o.reward_mentioned, reason="wrong; reference in text"
            )
        return Verdict(correct=False, reward=o.reward_boxed_wrong, reason=f"wrong ({found[1]})")

    def _compare(self, problem: Problem, pred: str) -> Check:
        """The verifier's comparison, except for soar-mini's answers: an *ordered* list.

        The general verifier reads ``12,6,2`` as a set (right for MATH's "all solutions"
        answers), which would accept ``6,12,2`` or drop a repeated value; soar-mini's answer is
        the sequence of the question's results. Comparing integer lists directly is also ~1000x
        cheaper than a SymPy call, which matters because RL verifies every sample.
        """
        if problem.data.get("family") == "mini":
            want, got = _int_list(problem.answer), _int_list(pred)
            if want is not None:
                return Check("equal" if want == got else "different")
        return self.verifier.compare(problem.answer, pred)

    # -- problem sets -------------------------------------------------------------------------
    def problem_sets(self) -> Mapping[str, ProblemSet]:
        sets: dict[str, ProblemSet] = {}
        every = list(problems.FAMILIES)
        levels = list(range(1, problems.LEVELS + 1))
        sets["mixed"] = ProblemSet(
            "mixed",
            "every procedural family at levels 1-5",
            lambda seed, limit: problems.generate(every, levels, seed, limit),
        )
        for fam in every:
            sets[fam] = ProblemSet(
                fam,
                f"procedural {fam}, levels 1-5",
                lambda seed, limit, f=fam: problems.generate([f], levels, seed, limit),
            )
            for lv in levels:
                sets[f"{fam}-l{lv}"] = ProblemSet(
                    f"{fam}-l{lv}",
                    f"procedural {fam} at level {lv}",
                    lambda seed, limit, f=fam, v=lv: problems.generate([f], [v], seed, limit),
                )
        for lv in range(1, mini.LEVELS + 1):
            sets[f"mini-l{lv}"] = ProblemSet(
                f"mini-l{lv}",
                f"soar-mini chains with {lv} operations",
                lambda seed, limit, v=lv: _mini_set(v, seed, limit),
            )
        for name, path in (self.options.files or {}).items():
            sets[name] = ProblemSet(
                name,
                f"MATH-format file {path}",
                lambda seed, limit, p=path: files.load_problems(p, seed=seed, limit=limit),
            )
        return sets

    def load_problem_set(self, name: str, *, seed: int, limit: int | None = None) -> list[Problem]:
        """Also accepts ``file:PATH`` / ``hf:ID`` (with a column mapping) for MATH-format data."""
        if name.startswith(("file:", "hf:")):
            return files.load_problems(name, seed=seed, limit=limit)
        return super().load_problem_set(name, seed=seed, limit=limit)

    # -- user input ---------------------------------------------------------------------------
    def problem_from_json(self, data: Mapping[str, Any]) -> Problem:
        if "question" in data and "domain" in data:
            return super().problem_from_json(data)
        return files.problem_from_record(data, index=0, source="user")

    def problem_from_reference(self, reference: str) -> Problem:
        if not reference.strip():
            raise InvalidInput("empty --reference")
        boxed = final_boxed(reference)
        answer = boxed.content if boxed is not None else reference.strip()
        return Problem(
            id="user", question="(reference only)", answer=answer, domain=self.name, source="user"
        )

    def mini_world(self) -> MiniWorld:
        return mini.mini_world()

    def conformance_cases(self) -> ConformanceCases:
        return self._format.cases()

    @property
    def _format(self) -> AnswerFormat:
        return FORMATS[self.options.format]


def _mini_set(level: int, seed: int, limit: int | None) -> list[Problem]:
    rng = random.Random(f"soarkit-math:mini:{level}:{seed}")
    out = []
    for i in range(200 if limit is None else limit):
        p = mini.make_problem(level, rng)
        out.append(p.model_copy(update={"id": f"mini-l{level}-{i:05d}"}))  # chains can repeat
    return out


def _case_problems() -> tuple[Problem, Problem, Problem]:
    half = Problem(id="c-half", question="What is 1/2?", answer="\\frac{1}{2}", domain="math")
    poly = Problem(id="c-poly", question="Expand (x+1)^2.", answer="x^2+2x+1", domain="math")
    roots = Problem(id="c-roots", question="Solve x^2=4.", answer="-2, 2", domain="math")
    return half, poly, roots


def _tags_cases() -> ConformanceCases:
    half, poly, roots = _case_problems()
    return ConformanceCases(
        valid_teacher_outputs=[
            "<question>What is 2+3?</question><answer>\\boxed{5}</answer>",
            "<question>Solve 2x=1.</question>\n<answer>\\frac{1}{2}</answer>",
            "Here: <question>Expand (x+1)^2.</question> <answer>$x^2+2x+1$</answer>",
        ],
        malformed_teacher_outputs=[
            "What is 2+3? The answer is 5.",
            "<question>What is 2+3?</question>",
            "<question>What is 2+3?</question><answer></answer>",
            "<question></question><answer>5</answer>",
            "<question>What is 2+3?</question><answer>\\boxed{5</answer>",
            "<question>Q?</question><answer>\\frac{1}{</answer>",
            "<answer>5</answer><question>What is 2+3?</question>",
        ],
        right=[
            (half, "so \\boxed{0.5}"),
            (half, "The answer is $\\boxed{\\dfrac{1}{2}}$."),
            (poly, "\\boxed{(x+1)^2}"),
            (poly, "\\boxed{1 + 2x + x^2}"),
            (roots, "\\boxed{2, -2}"),
        ],
        wrong=[
            (half, "\\boxed{2}"),
            (half, "0.5"),
            (poly, "\\boxed{x^2+1}"),
            (roots, "\\boxed{2}"),
            (half, "\\boxed{9^{9^{9^{9}}}}"),
            (half, "\\boxed{__import__('os').system('true')}"),
        ],
    )


def _plain_cases() -> ConformanceCases:
    half, poly, roots = _case_problems()
    return ConformanceCases(
        valid_teacher_outputs=[
            "Question: What is 2+3?\nAnswer: 5",
            "**Question:** Solve 2x=1.\n**Answer:** $x = \\frac{1}{2}$.",
            "Sure! Question: Expand (x+1)^2. Answer: x^2+2x+1\nThat is all.",
        ],
        malformed_teacher_outputs=[
            "What is 2+3? It is 5.",
            "Question: What is 2+3?",
            "Question: What is 2+3?\nAnswer:\n",
            "Question:\nAnswer: 5",
            "Answer: 5\nQuestion: What is 2+3?",
            "Question: Q?\nAnswer: \\frac{1}{",
        ],
        right=[
            (half, "so Answer: 0.5"),
            (half, "The answer is $\\dfrac{1}{2}$."),
            (half, "I get 1/2"),
            (poly, "\\boxed{1 + 2x + x^2}"),
            (roots, "Answer: 2, -2"),
        ],
        wrong=[
            (half, "Answer: 2"),
            (half, "I get 3"),
            (half, "no idea"),
            (poly, "Answer: x^2+1"),
            (roots, "Answer: 2"),
            (half, "Answer: 9^{9^{9^{9}}}"),
            (half, "Answer: __import__('os').system('true')"),
        ],
    )


@dataclass(frozen=True)
class AnswerFormat:
    """What the ``format`` option decides, kept together: the domain's methods ask the run's
    format for its piece instead of each branching on the format's name."""

    teacher_prompts: Mapping[str, str]  # by the ``prompt`` option
    opening: str  # what ``open_turn`` starts the teacher's turn with
    example: Callable[[str, str], str]  # one shown example (question, answer)
    teacher_fields: Callable[[str], tuple[str, str]]  # a teacher output's question and answer
    student_prompt: Callable[[str], str]  # from the question
    rule: Callable[[MathDomain, Problem, str], Verdict]  # judges a student's completion
    cases: Callable[[], ConformanceCases]


FORMATS: dict[str, AnswerFormat] = {
    "tags": AnswerFormat(
        teacher_prompts={"compact": TEACHER_PROMPT, "paper": PAPER_TEACHER_PROMPT},
        opening="<question>",
        example=lambda q, a: f"<question>{q}</question>\n<answer>\\boxed{{{a}}}</answer>",
        teacher_fields=teacher_fields,
        student_prompt=lambda question: STUDENT_PREFIX + question + "\n",
        rule=MathDomain._verify_tags,
        cases=_tags_cases,
    ),
    "plain": AnswerFormat(
        teacher_prompts=PLAIN_TEACHER_PROMPTS,
        opening="Question:",
        example=lambda q, a: f"Question: {q}\nAnswer: {a}",
        teacher_fields=plain_teacher_fields,
        student_prompt=lambda question: question + PLAIN_STUDENT_SUFFIX,
        rule=MathDomain._verify_plain,
        cases=_plain_cases,
    ),
}
