"""The contract a problem domain fulfils (math, code, or a third party's).

A domain bundles everything SOAR needs that depends on the kind of problem:

* the teacher's generation prompt and the parser of its output (malformed -> rejected with
  a reason -> the loop resamples, which keeps RLOO's advantages unbiased);
* the student's prompt;
* the verifier together with the student's reward shaping;
* named problem sets (where hard sets are mined from);
* the domain's own JSON problem format, so ``soarkit verify`` checks an answer exactly the way
  a run would;
* conformance cases: known-good and known-bad inputs the conformance kit
  (:mod:`soar_kit.testing`) exercises, so a third-party author tests the contract, not prose.

Domains are registered through the ``soarkit_register_domains`` hook.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from soar_kit.contracts import problem_files
from soar_kit.contracts.records import Problem, Verdict
from soar_kit.errors import InvalidInput, ProblemRejected


@dataclass(frozen=True)
class ProblemSet:
    """A named, seeded source of problems.

    ``load(seed, limit)`` must be deterministic in ``seed``: hard sets and evaluations are
    reproduced from it. ``limit=None`` means "the set's natural size".
    """

    name: str
    description: str
    load: Callable[[int, int | None], list[Problem]]


@dataclass
class ConformanceCases:
    """Inputs with known outcomes that the conformance kit runs against a domain.

    ``valid_teacher_outputs`` must parse; ``malformed_teacher_outputs`` must be rejected;
    ``right`` pairs must verify as correct and ``wrong`` pairs as incorrect.
    """

    valid_teacher_outputs: list[str]
    malformed_teacher_outputs: list[str]
    right: list[tuple[Problem, str]]
    wrong: list[tuple[Problem, str]]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MiniWorld:
    """What a domain offers for building the embedded ``soar-mini`` model.

    SOAR needs a student that fails the hard set outright, a teacher that can *pose* problems it
    cannot *solve*, and stepping stones in between. A domain with a difficulty knob makes that
    possible for a tiny model: the corpus builder shows solved problems only at low levels but
    well-formed questions at every level. The domain only describes its world; the model source
    decides the corpus mix.
    """

    #: Difficulty levels are 1..levels.
    levels: int
    #: A fresh problem at ``level`` (deterministic in the rng state).
    make_problem: Callable[[int, random.Random], Problem]
    #: The completion a perfect student writes for ``problem`` (the answer in the domain's format).
    solution: Callable[[Problem], str]
    #: Level of the default hard set (problems the built model must fail at fail@k).
    hard_level: int
    #: The text a perfect teacher writes for ``problem`` after the teacher prompt (what
    #: :meth:`Domain.parse_teacher_output` accepts). ``None``: the builder tries common formats.
    teacher_output: Callable[[Problem], str] | None = None
    #: The completion of the student the corpus *demonstrates* above the solved levels: the
    #: world's characteristic mistake made at its designed rate (deterministic in the rng state).
    #: ``None``: those levels show perfect solutions, only rarely. A mistake made at a known rate
    #: is what puts a skill at the edge of learnability: right often enough on a stepping stone
    #: for RL to see it, compounded past reach on the hard level.
    attempt: Callable[[Problem, random.Random], str] | None = None
    #: The worked answer the corpus's *teacher* writes to a question it poses, above the solved
    #: levels (deterministic in the rng state). ``None``: the teacher answers like ``attempt``.
    #: A teacher that answers better than it solves as a student is the paper's premise of
    #: latent knowledge: the model holds a skill its student format does not yet reach, so the
    #: questions and answers it writes can teach its own student (SOAR.md, the teacher's answers
    #: are the reference).
    teacher_attempt: Callable[[Problem, random.Random], str] | None = None
    #: Corpus knobs this world needs, as :class:`~soar_kit.mini.corpus.MiniRecipe` field values
    #: (e.g. ``{"solved_levels": 1}``). They fill the recipe's ``None`` fields; a knob set in
    #: the recipe itself wins.
    recipe: Mapping[str, Any] = field(default_factory=dict)


class Domain(ABC):
    """Base class of every domain. Subclass it and register an instance.

    Methods must be safe to call from worker threads and processes: a domain holds no mutable
    state after construction other than caches.
    """

    #: Short unique name used on the command line (``--domain NAME``).
    name: ClassVar[str]
    #: One line shown by ``soarkit plugins``.
    description: ClassVar[str] = ""
    #: Inclusive bounds of :attr:`Verdict.reward` this domain can return.
    reward_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    #: Problem set used by ``soarkit run``/``hardset`` when none is named.
    default_problem_set: ClassVar[str] = ""

    def with_options(self, options: Mapping[str, Any]) -> Domain:
        """This domain configured by the run's ``domain.options`` (a copy, or ``self``).

        Unknown option keys must raise :class:`InvalidInput` naming them, so a typo in a config
        file is not silently ignored.
        """
        if options:
            raise InvalidInput(f"domain '{self.name}' takes no options (got: {', '.join(options)})")
        return self

    # -- teacher -----------------------------------------------------------------------------
    @abstractmethod
    def teacher_prompt(self, rng: random.Random) -> str:
        """The prompt asking the teacher for one new problem.

        The teacher never sees hard problems (SOAR.md), so this depends only on ``rng`` (used
        to vary topic hints, if the domain has any).
        """

    def teacher_opening(self) -> str:
        """Text the teacher's answer starts with, written for it (default: none).

        Opening the teacher's turn with the format's first tag (``<question>``) is an honest
        way to help a small model keep the format: the model still writes every word of the
        problem. The run appends it to the (rendered) teacher prompt and hands
        :meth:`parse_teacher_output` the opening followed by the completion.
        """
        return ""

    @abstractmethod
    def parse_teacher_output(self, text: str, *, problem_id: str) -> Problem:
        """Turn a teacher completion into a :class:`Problem` or raise :class:`ProblemRejected`.

        Must never execute or ``eval`` the text in-process (running it inside a sandbox, e.g. to
        check that a reference solution passes its tests, is fine). Rejections carry a short
        reason.
        """

    # -- student -----------------------------------------------------------------------------
    @abstractmethod
    def student_prompt(self, problem: Problem) -> str:
        """The prompt the student answers for ``problem``."""

    @abstractmethod
    def verify(self, problem: Problem, completion: str) -> Verdict:
        """Judge a student completion; never raises on any completion text.

        Must finish in bounded time for hostile input and return a reward within
        :attr:`reward_range`.
        """

    # -- problem sets --------------------------------------------------------------------------
    @abstractmethod
    def problem_sets(self) -> Mapping[str, ProblemSet]:
        """Named problem sets this domain ships (procedural or bundled files)."""

    def load_problem_set(self, name: str, *, seed: int, limit: int | None = None) -> list[Problem]:
        """A named set, or ``file:PATH`` / ``hf:ID`` (any table ``datasets`` reads, each row
        turned into a problem by :meth:`problem_from_json`; see
        :mod:`soar_kit.contracts.problem_files`)."""
        if problem_files.is_file_source(name):
            return problem_files.load_problems(self, name, seed=seed, limit=limit)
        sets = self.problem_sets()
        if name not in sets:
            known = ", ".join(sorted(sets)) or "none"
            raise InvalidInput(f"domain '{self.name}' has no problem set '{name}' (known: {known})")
        return sets[name].load(seed, limit)

    # -- user input ----------------------------------------------------------------------------
    def problem_from_json(self, data: Mapping[str, Any]) -> Problem:
        """Build a problem from the domain's JSON format (``soarkit verify --problem FILE``).

        The default accepts a serialised :class:`Problem`; domains override it to accept their
        native format and raise :class:`InvalidInput` naming the missing field.
        """
        payload = dict(data)
        payload.setdefault("domain", self.name)
        payload.setdefault("id", "user")
        try:
            return Problem.model_validate(payload)
        except Exception as exc:  # pydantic's message is multi-line; keep the first fact
            raise InvalidInput(f"not a {self.name} problem: {_first_line(exc)}") from exc

    def problem_from_reference(self, reference: str) -> Problem:
        """Build a problem from a bare reference answer, where the domain allows it."""
        raise InvalidInput(f"domain '{self.name}' needs --problem FILE, not --reference")

    def mini_world(self) -> MiniWorld | None:
        """The difficulty-levelled world ``soar-mini`` is built from, if the domain has one."""
        return None

    @abstractmethod
    def conformance_cases(self) -> ConformanceCases:
        """Known-good and known-bad inputs for :mod:`soar_kit.testing`."""

    # -- helpers for subclasses ----------------------------------------------------------------
    @staticmethod
    def reject(reason: str) -> ProblemRejected:
        return ProblemRejected(reason)

    def verify_many(self, problem: Problem, completions: Sequence[str]) -> list[Verdict]:
        """Verify several completions of one problem; domains may batch this."""
        return [self.verify(problem, c) for c in completions]


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if len(lines) >= 3 and "validation error" in lines[0]:
        return f"{lines[1]}: {lines[2]}"
    return lines[0] if lines else type(exc).__name__
