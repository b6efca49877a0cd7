"""``ReasoningGymDomain``: any reasoning-gym task as a soar-kit domain.

* problem sets come from the task's own generator, at a difficulty level of its curriculum
  (level ``L`` = every curriculum attribute at its ``L``-th setting, upper segment only), seeded;
* the verifier is the task's ``score_answer``, run in a worker process with a time limit
  (:mod:`soarkit_reasoning_gym.scoring`), on the ``<answer>`` of the completion -- the
  task's own answer format and system prompt (reasoning-gym's ``default``);
* the teacher is shown one generated example of the task and asked for a new question with
  its answer; a teacher problem is kept only if the task's scorer accepts its answer as a
  reference (scorers that need the generator's hidden metadata reject every teacher problem,
  which says the task cannot take teacher-written problems);
* ``answers = "solver"``: for tasks whose questions can be solved safely
  (:mod:`soarkit_reasoning_gym.solvers`), the computed answer replaces the teacher's, and
  ``teacher_answer_correct`` records whether the task's scorer accepted the teacher's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Any, ClassVar

from soar_kit.contracts.domain import ConformanceCases, Domain, ProblemSet
from soar_kit.contracts.records import Problem, Verdict
from soar_kit.errors import InvalidInput, ProblemRejected
from soarkit_reasoning_gym.scoring import ScorerError, worker
from soarkit_reasoning_gym.solvers import SOLVERS, Unsolvable
from soarkit_reasoning_gym.tasks import TASKS

DOMAIN = "reasoning-gym"
SHORT_PREFIX = "rg:"
#: reasoning-gym's ``SYSTEM_PROMPTS["default"]`` (copied so the prompt needs no import).
SYSTEM_PROMPT = (
    "Given a problem, your task is to answer the question by thinking step-by-step in a clear "
    "and specific manner.\nOnce you have thought about the reasoning process, provide the "
    "answer in the following format:\n<answer>answer here</answer>\nDo not explain your "
    "reasoning inside the answer tags, provide only the final answer. When an example is "
    "provided, you should strictly follow the format of the output/answer in that example.\n"
)
TEACHER_PROMPT = (
    "Write a new problem of the same kind as this example, with its answer, in the same "
    "format.\n<question>{question}</question>\n<answer>{answer}</answer>\nNew problem:\n<question>"
)
_ANSWER = re.compile(r"<answer>\s?(.*?)\s?</answer>", re.S)
_TEACHER = {t: re.compile(rf"<{t}>(.*?)</{t}>", re.S) for t in ("question", "answer")}
MAX_ANSWER_CHARS = 10_000
MAX_QUESTION_CHARS = 8_000
#: Examples the teacher prompt draws from (the generator's lowest level by default).
EXAMPLES = 16


@dataclass(frozen=True)
class RGOptions:
    """``domain.options`` of a run.

    ``task``: the reasoning-gym dataset name. ``config``: overrides of the task's config
    dataclass (after the level's settings). ``size``: problems in a set when none is asked for.
    ``example_level``: curriculum level of the teacher prompt's example (``0``: the task's
    defaults). ``timeout``: seconds one scoring may take. ``answers``: ``teacher`` (the
    paper's rule) or ``solver`` (computed answers, tasks in :data:`SOLVERS` only).
    """

    task: str = "chain_sum"
    config: Mapping[str, Any] | None = None
    size: int = 200
    example_level: int = 1
    timeout: float = 5.0
    answers: str = "teacher"


# -- the generator side (parent process; generator output is trusted, model text is not) ---------


def _rg() -> Any:
    import reasoning_gym  # noqa: F401  (registers every task; slow, so imported on first use)
    from reasoning_gym import factory

    return factory


@lru_cache(maxsize=256)
def levels_of(task: str) -> int:
    """Curriculum levels of a task (0: it has no curriculum, only its default config)."""
    factory = _rg()
    if task not in factory.CURRICULA:
        return 0
    curriculum = factory.CURRICULA[task]()
    top = max((len(a.levels) for a in curriculum.attributes.values()), default=0)
    # a few curricula step past what their config accepts (caesar_cipher at level 3): the
    # levels are those up to the first invalid one
    for level in range(1, top + 1):
        try:
            _task_config(task, level, 0, 1, None)
        except InvalidInput:
            return level - 1
    return top


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def task_config(
    task: str, level: int, *, seed: int, size: int, overrides: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The task's config (as JSON data) at ``level`` (0: its defaults) with ``overrides``."""
    return _jsonable(_config_data(_task_config(task, level, seed, size, overrides)))


def _config_data(config: Any) -> dict[str, Any]:
    return asdict(config) if dataclasses.is_dataclass(config) else dict(vars(config))


def _task_config(
    task: str, level: int, seed: int, size: int, overrides: Mapping[str, Any] | None
) -> Any:
    """The config object itself: JSON data loses types (enums) some generators need."""
    factory = _rg()
    _, config_cls = factory.DATASETS[task]
    try:
        if level == 0:
            config = config_cls(seed=seed, size=size)
        else:
            from reasoning_gym.coaching.base_curriculum import (
                DefaultCurriculumContext,
                RangeAttributeMode,
            )

            curriculum = factory.CURRICULA[task]()
            curriculum.set_global_level(level - 1)
            config = curriculum.generate_configuration(
                defaults={"seed": seed, "size": size},
                context=DefaultCurriculumContext(mode=RangeAttributeMode.UPPER_BOUND),
            )
        if overrides:
            config = replace(config, **dict(overrides))
        if hasattr(config, "validate"):
            config.validate()
    except (TypeError, ValueError, AssertionError, KeyError) as exc:
        raise InvalidInput(f"task '{task}': bad config at level {level}: {exc}") from exc
    return config


def _derived_seed(*parts: object) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big")


@lru_cache(maxsize=64)
def _generate(
    task: str, level: int, seed: int, count: int, overrides_json: str, domain: str
) -> tuple[Problem, ...]:
    """``count`` problems whose reference the task's own scorer accepts (others are skipped)."""
    factory = _rg()
    overrides = json.loads(overrides_json) or None
    config_obj = _task_config(task, level, _derived_seed(task, level, seed), count * 2, overrides)
    config = _jsonable(_config_data(config_obj))
    cls, _ = factory.DATASETS[task]
    dataset = cls(config=config_obj)
    out: list[Problem] = []
    refused = 0
    tag = f"l{level}" if level else "d"
    for i in range(count * 2):
        if len(out) == count:
            break
        try:
            item = dataset[i]
            entry = _jsonable({k: item.get(k) for k in ("question", "answer", "metadata")})
            answer = entry["answer"]
            ok = (
                isinstance(entry["question"], str)
                and entry["question"].strip()
                and answer is not None
                and float(dataset.score_answer(str(answer), entry)) >= 1.0
            )
        except Exception:
            ok = False
        if not ok:
            refused += 1
            continue
        out.append(
            Problem(
                id=f"{task}-{tag}-{i:05d}",
                question=entry["question"],
                answer=str(answer),
                domain=domain,
                data={
                    "task": task,
                    "level": level,
                    "config": config,
                    "metadata": entry.get("metadata") or {},
                },
                source=f"reasoning-gym:{task}",
            )
        )
    if not out:
        raise InvalidInput(
            f"task '{task}': its scorer accepts none of its own reference answers "
            f"({refused} tried), so it cannot verify problems here"
        )
    return tuple(out)


# -- the domain -----------------------------------------------------------------------------------


class ReasoningGymDomain(Domain):
    """One reasoning-gym task (``domain.options.task``, or the ``rg:NAME`` short form)."""

    name: ClassVar[str] = DOMAIN
    description: ClassVar[str] = (
        "any reasoning-gym 0.1.25 task (domain.options.task=NAME, or rg:NAME): its generator "
        "at curriculum levels, its scorer as the verifier"
    )
    reward_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    default_problem_set: ClassVar[str] = "mixed"

    def __init__(self, options: RGOptions | None = None, *, short: bool = False) -> None:
        self.options = options or RGOptions()
        if self.options.task not in TASKS:
            raise InvalidInput(_unknown_task(self.options.task))
        self.short = short
        # instance attributes shadow the ClassVars: one registered object per task
        if short:
            self.name = f"{SHORT_PREFIX}{self.options.task}"  # type: ignore[misc]
            self.description = f"reasoning-gym task '{self.options.task}'"  # type: ignore[misc]

    @property
    def task(self) -> str:
        return self.options.task

    def with_options(self, options: Mapping[str, Any]) -> ReasoningGymDomain:
        known = set(asdict(RGOptions()))
        options = dict(options)
        for key in [k for k in options if k.startswith("config.")]:
            cfg = dict(options.get("config") or {})
            cfg[key[len("config.") :]] = options.pop(key)
            options["config"] = cfg
        unknown = sorted(set(options) - known)
        if unknown:
            raise InvalidInput(
                f"domain '{self.name}' has no option(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        if self.short and "task" in options and options["task"] != self.task:
            raise InvalidInput(
                f"domain '{self.name}' is task '{self.task}'; use --domain reasoning-gym "
                f"to pick another task"
            )
        values = dict(options)
        try:
            if "task" in values:
                values["task"] = str(values["task"])
            for key, typ in (("size", int), ("example_level", int), ("timeout", float)):
                if key in values:
                    values[key] = typ(values[key])
            if "config" in values and values["config"] is not None:
                if not isinstance(values["config"], Mapping):
                    raise ValueError("config must be a table of the task's config fields")
                values["config"] = dict(values["config"])
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"domain '{self.name}': bad option value: {exc}") from exc
        if values.get("answers", "teacher") not in ("teacher", "solver"):
            raise InvalidInput(
                f"domain '{self.name}': answers must be 'teacher' or 'solver', "
                f"got {values['answers']!r}"
            )
        new = replace(self.options, **values)
        if new.timeout <= 0 or new.size <= 0 or new.example_level < 0:
            raise InvalidInput(f"domain '{self.name}': timeout and size must be positive")
        if new.task not in TASKS:
            raise InvalidInput(_unknown_task(new.task))
        if new.answers == "solver" and new.task not in SOLVERS:
            raise InvalidInput(
                f"domain '{self.name}': task '{new.task}' has no answer solver "
                f"(answers=solver works for: {', '.join(sorted(SOLVERS))})"
            )
        return ReasoningGymDomain(new, short=self.short)

    # -- helpers --------------------------------------------------------------------------------
    def _overrides_json(self) -> str:
        return json.dumps(dict(self.options.config or {}), sort_keys=True, default=str)

    def generate(self, level: int, seed: int, count: int) -> list[Problem]:
        return list(_generate(self.task, level, seed, count, self._overrides_json(), self.name))

    def _examples(self) -> list[Problem]:
        level = min(self.options.example_level, levels_of(self.task))
        # a seed of its own: the examples never coincide with a mined set's problems
        return self.generate(level, _derived_seed("teacher-examples", self.task), EXAMPLES)

    def _score(
        self, task: str, config: Mapping[str, Any], entry: dict[str, Any], answer: str
    ) -> float:
        return worker().score(task, dict(config), entry, answer, timeout=self.options.timeout)

    def _default_config(self) -> dict[str, Any]:
        return task_config(self.task, 0, seed=0, size=1, overrides=self.options.config)

    # -- teacher --------------------------------------------------------------------------------
    def teacher_prompt(self, rng: random.Random) -> str:
        example = rng.choice(self._examples())
        return TEACHER_PROMPT.format(question=example.question, answer=example.answer)

    def parse_teacher_output(self, text: str, *, problem_id: str) -> Problem:
        """``<question>...</question><answer>...</answer>``; the prompt ends with the opening
        ``<question>`` (a small model starts the question instead of chatting), so a completion
        that begins inside the question counts as opened there."""
        close = text.find("</question>")
        if close >= 0 and "<question>" not in text[:close]:
            text = "<question>" + text
        q = _TEACHER["question"].search(text)
        if not q:
            raise ProblemRejected("missing <question>...</question>")
        a = _TEACHER["answer"].search(text, q.end())
        if not a:
            raise ProblemRejected("missing <answer>...</answer> after the question")
        question, answer = q.group(1).strip(), a.group(1).strip()
        if not question:
            raise ProblemRejected("empty question")
        if not answer:
            raise ProblemRejected("empty answer")
        if len(question) > MAX_QUESTION_CHARS or len(answer) > MAX_ANSWER_CHARS:
            raise ProblemRejected("question or answer too long")
        if any(question == e.question.strip() for e in self._examples()):
            raise ProblemRejected("the example question, copied")
        config = self._default_config()
        data: dict[str, Any] = {"task": self.task, "config": config, "metadata": {}}
        solver = SOLVERS.get(self.task)
        if solver is not None:
            try:
                truth = solver(question)
            except Unsolvable as exc:
                if self.options.answers == "solver":
                    raise ProblemRejected(f"question not solvable: {exc}") from exc
                truth = None
            if truth is not None:
                entry = {"question": question, "answer": truth, "metadata": {}}
                data["teacher_answer_correct"] = self._accepts(config, entry, answer)
                if self.options.answers == "solver":
                    answer = truth
        if "teacher_answer_correct" not in data or self.options.answers == "teacher":
            entry = {"question": question, "answer": answer, "metadata": {}}
            try:
                accepted = self._score(self.task, config, entry, answer) >= 1.0
            except ScorerError as exc:
                raise ProblemRejected(f"answer not scorable ({exc})") from exc
            if not accepted:
                raise ProblemRejected("the task's scorer does not accept the answer as a reference")
        return Problem(
            id=problem_id,
            question=question,
            answer=answer,
            domain=self.name,
            data=data,
            source="teacher",
        )

    def _accepts(self, config: Mapping[str, Any], entry: dict[str, Any], answer: str) -> bool:
        try:
            return self._score(self.task, config, entry, answer) >= 1.0
        except ScorerError:
            return False

    # -- student --------------------------------------------------------------------------------
    def student_prompt(self, problem: Problem) -> str:
        return f"{SYSTEM_PROMPT}\n{problem.question}\n"

    def verify(self, problem: Problem, completion: str) -> Verdict:
        try:
            matches = _ANSWER.findall(completion)
            if not matches:
                return Verdict(correct=False, reward=0.0, reason="no <answer>...</answer>")
            answer = matches[-1].strip()
            if len(answer) > MAX_ANSWER_CHARS:
                return Verdict(correct=False, reward=0.0, reason="answer too long")
            task = str(problem.data.get("task") or self.task)
            config = problem.data.get("config")
            if not isinstance(config, Mapping):
                config = self._default_config()
            metadata = problem.data.get("metadata")
            entry = {
                "question": problem.question,
                "answer": problem.answer,
                "metadata": metadata if isinstance(metadata, Mapping) else {},
            }
            score = self._score(task, config, entry, answer)
        except ScorerError as exc:
            return Verdict(correct=False, reward=0.0, reason=str(exc))
        except Exception as exc:  # the contract: never raise on completion text
            return Verdict(correct=False, reward=0.0, reason=f"not judged: {type(exc).__name__}")
        reward = min(1.0, max(0.0, score))
        correct = score >= 1.0
        return Verdict(correct=correct, reward=reward, reason=f"task score {score:.3g}")

    # -- problem sets ---------------------------------------------------------------------------
    def problem_sets(self) -> Mapping[str, ProblemSet]:
        task, size = self.task, self.options.size
        levels = levels_of(task)
        sets: dict[str, ProblemSet] = {
            "default": ProblemSet(
                "default",
                f"{task} at its default config",
                lambda seed, limit: self.generate(0, seed, limit or size),
            )
        }
        for lv in range(1, levels + 1):
            sets[f"l{lv}"] = ProblemSet(
                f"l{lv}",
                f"{task} at curriculum level {lv} of {levels}",
                lambda seed, limit, v=lv: self.generate(v, seed, limit or size),
            )
        sets["mixed"] = ProblemSet(
            "mixed",
            f"{task} cycling over curriculum levels 1-{levels}" if levels else f"{task} default",
            lambda seed, limit: self._mixed(seed, limit or size),
        )
        return sets

    def _mixed(self, seed: int, count: int) -> list[Problem]:
        levels = list(range(1, levels_of(self.task) + 1)) or [0]
        per = -(-count // len(levels))
        pools = [self.generate(lv, seed, per) for lv in levels]
        out: list[Problem] = []
        for i in range(per):
            out.extend(pool[i] for pool in pools if i < len(pool))
        return out[:count]

    # -- user input -----------------------------------------------------------------------------
    def problem_from_json(self, data: Mapping[str, Any]) -> Problem:
        """A serialised Problem, or a reasoning-gym entry (``question``, ``answer``, ``metadata``)."""
        if "domain" in data and "question" in data:
            problem = super().problem_from_json(data)
            if problem.domain != self.name:
                raise InvalidInput(f"a problem of domain '{problem.domain}', not '{self.name}'")
            return problem
        question, answer = data.get("question"), data.get("answer")
        if not isinstance(question, str) or not question.strip():
            raise InvalidInput("reasoning-gym problem needs a 'question'")
        if answer is None or (isinstance(answer, str) and not answer.strip()):
            raise InvalidInput("reasoning-gym problem needs an 'answer'")
        metadata = data.get("metadata") if isinstance(data.get("metadata"), Mapping) else {}
        task = str(data.get("task") or metadata.get("source_dataset") or self.task)
        if task not in TASKS:
            raise InvalidInput(_unknown_task(task))
        level = data.get("level")
        return Problem(
            id=str(data.get("id") or "user"),
            question=question,
            answer=str(answer),
            domain=self.name,
            data=_jsonable(
                {
                    "task": task,
                    "config": data.get("config")
                    or task_config(task, 0, seed=0, size=1, overrides=None),
                    "metadata": metadata,
                    **({"level": level} if level is not None else {}),
                }
            ),
            source="user",
        )

    def problem_from_reference(self, reference: str) -> Problem:
        if not reference.strip():
            raise InvalidInput("empty --reference")
        return Problem(
            id="user",
            question="(reference only)",
            answer=reference.strip(),
            domain=self.name,
            data={"task": self.task, "config": self._default_config(), "metadata": {}},
            source="user",
        )

    def conformance_cases(self) -> ConformanceCases:
        worker().warm()  # the kit times verifications: the worker's start is not scoring time
        problems = self.generate(min(1, levels_of(self.task)), 7, 6)
        first = problems[0]
        right = [(p, f"<answer>{p.answer}</answer>") for p in problems[:3]]
        right.append(
            (first, f"Let me think.\n<answer>wrong</answer>\n<answer>{first.answer}</answer>")
        )
        factory = _rg()
        cls, _ = factory.DATASETS[self.task]
        level = min(1, levels_of(self.task))
        scorer = cls(config=_task_config(self.task, level, 0, 1, self.options.config))
        entry = {
            "question": first.question,
            "answer": first.answer,
            "metadata": first.data["metadata"],
        }
        wrong: list[tuple[Problem, str]] = []
        for text in [p.answer for p in problems[1:]] + ["zzz", "-1", "[]", "no"]:
            try:
                if text != first.answer and float(scorer.score_answer(text, entry)) < 1.0:
                    wrong.append((first, f"<answer>{text}</answer>"))
            except Exception:
                continue  # a scorer crash is tested by the hostile completions
        wrong.append((first, first.answer))  # right answer, but not in the task's answer format
        examples = {e.question.strip() for e in self._examples()}
        fresh = [p for p in problems if p.question.strip() not in examples]
        teacher = (fresh or problems)[-1]
        return ConformanceCases(
            valid_teacher_outputs=[
                f"<question>{teacher.question}</question>\n<answer>{teacher.answer}</answer>",
            ],
            malformed_teacher_outputs=[
                "no tags at all",
                f"<question>{teacher.question}</question>",
                f"<question></question><answer>{teacher.answer}</answer>",
                f"<question>{teacher.question}</question><answer> </answer>",
                f"<answer>{teacher.answer}</answer><question>{teacher.question}</question>",
                f"<question>{self._examples()[0].question}</question>"
                f"<answer>{self._examples()[0].answer}</answer>",
            ],
            right=right,
            wrong=wrong,
        )


def _unknown_task(task: str) -> str:
    import difflib

    near = difflib.get_close_matches(task, TASKS, n=3)
    hint = f" (did you mean: {', '.join(near)}?)" if near else f" ({len(TASKS)} tasks known)"
    return f"reasoning-gym has no task '{task}'{hint}"
