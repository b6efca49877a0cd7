"""``CodeDomain``: Python function problems judged by tests in a sandbox.

Teacher writes ``<question>`` (statement + ``def`` line), ``<answer>`` (assert tests) and
optionally ``<solution>`` (a reference). The student answers with code (a fenced block or raw
code). The verifier runs the student's code in a fresh sandboxed process and judges each test
on the harness's side (:mod:`soarkit_code.harness`).

Reward shaping: 1.0 when every test passes, else ``0.5 * passed / total``: partial credit gives
RL a gradient on problems no sample fully solves, and stays strictly below a full solve.
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, ClassVar

from soar_kit.contracts.domain import ConformanceCases, Domain, MiniWorld, ProblemSet
from soar_kit.contracts.records import Problem, Verdict
from soar_kit.errors import InvalidInput, ProblemRejected
from soarkit_code import formats, harness
from soarkit_code.bundled import TIERS, bundled_problems
from soarkit_code.mini import LEVELS, make_chain_problem, mini_world
from soarkit_code.sandbox import Limits, SandboxError, SandboxPool, shared_pool

STUDENT_PROMPT = "Solve in Python.\n{question}\nCode:\n"

_OPTIONS = {
    "workers": int,
    "wall_s": float,
    "cpu_s": int,
    "memory_mb": int,
    "check_teacher": bool,
    "partial_credit": bool,
    "problems_file": str,
}


_CACHE: OrderedDict[tuple, harness.Outcome] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8192


@functools.lru_cache(maxsize=4096)
def _plan(tests: tuple[str, ...], entry: str) -> harness.TestPlan:
    return harness.compile_tests(tests, entry)


class CodeDomain(Domain):
    """Python functions with assert tests; verdicts come from the harness, never the candidate."""

    name = "code"
    description = "Python functions judged by assert tests in a process sandbox."
    reward_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    default_problem_set = "bundled"

    def __init__(
        self,
        *,
        workers: int | None = None,
        limits: Limits | None = None,
        check_teacher: bool = True,
        partial_credit: bool = True,
        problems_file: str | None = None,
    ) -> None:
        self.workers = workers or max(1, min(2, os.cpu_count() or 1))
        self.limits = limits or Limits()
        self.check_teacher = check_teacher
        self.partial_credit = partial_credit
        self.problems_file = problems_file

    # -- options -------------------------------------------------------------------------------
    def with_options(self, options: Mapping[str, Any]) -> CodeDomain:
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise InvalidInput(
                f"domain 'code': unknown option(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(_OPTIONS))})"
            )
        vals: dict[str, Any] = {}
        for k, v in options.items():
            typ = _OPTIONS[k]
            try:
                vals[k] = (
                    v
                    if isinstance(v, typ)
                    else (str(v).lower() in ("1", "true", "yes") if typ is bool else typ(v))
                )
            except (TypeError, ValueError) as exc:
                raise InvalidInput(f"domain 'code': option {k} must be {typ.__name__}") from exc
        lim_changes = {k: vals.pop(k) for k in ("wall_s", "cpu_s", "memory_mb") if k in vals}
        return CodeDomain(
            workers=vals.get("workers", self.workers),
            limits=replace(self.limits, **lim_changes),
            check_teacher=vals.get("check_teacher", self.check_teacher),
            partial_credit=vals.get("partial_credit", self.partial_credit),
            problems_file=vals.get("problems_file", self.problems_file),
        )

    @property
    def pool(self) -> SandboxPool:
        return shared_pool(self.workers, self.limits)

    # -- teacher --------------------------------------------------------------------------------
    def teacher_prompt(self, rng: random.Random) -> str:
        return formats.TEACHER_PROMPT

    def parse_teacher_output(self, text: str, *, problem_id: str) -> Problem:
        problem = formats.parse_teacher(text, problem_id)
        if self.check_teacher:
            self.check_well_posed(problem)
        return problem

    def check_well_posed(self, problem: Problem) -> None:
        """Raise :class:`ProblemRejected` unless the tests can tell solutions apart.

        * a stub returning ``None`` (what ``pass`` does) must fail some test -- judged on the
          parent's side without running anything;
        * a reference solution, when given, must pass every test, twice with equal results
          (tests whose outcome changes between runs are not deterministic). The reference is
          untrusted text too, so it runs in the sandbox like any student answer.
        """
        plan = self._plan(problem)
        trivial = harness.judge(plan, [(True, None)] * len(plan.calls))
        if trivial.all_passed:
            raise ProblemRejected("a trivial solution (return None) passes the tests")
        ref = problem.data.get("reference")
        if ref:
            try:
                first = self._run(problem, ref)
                second = self._run(problem, ref) if first.all_passed else first
            except (SandboxError, OSError) as exc:
                raise ProblemRejected(f"sandbox unavailable: {exc}") from exc
            if not first.all_passed:
                raise ProblemRejected(f"reference solution fails its tests ({first.reason})")
            if second.passed != first.passed:
                raise ProblemRejected("tests are not deterministic")

    # -- student ------------------------------------------------------------------------------
    def student_prompt(self, problem: Problem) -> str:
        return STUDENT_PROMPT.format(question=problem.question)

    def verify(self, problem: Problem, completion: str) -> Verdict:
        try:
            code = formats.extract_code(completion)
            if len(code) > formats.MAX_CODE_CHARS:
                return Verdict(correct=False, reward=0.0, reason="code too long")
            entry = problem.data.get("entry_point", "")
            if not entry or entry not in code:
                return Verdict(correct=False, reward=0.0, reason=f"no definition of {entry}")
            outcome = self._run_cached(problem, code)
        except Exception as exc:  # verify never raises: a broken sandbox is "not judged"
            return Verdict(correct=False, reward=0.0, reason=f"not judged: {exc}")
        total = len(outcome.passed)
        passed = sum(outcome.passed)
        if outcome.all_passed:
            return Verdict(correct=True, reward=1.0, reason=f"all {total} tests passed")
        reward = 0.5 * passed / total if self.partial_credit and total else 0.0
        return Verdict(
            correct=False, reward=reward, reason=f"{passed}/{total} tests passed; {outcome.reason}"
        )

    def verify_many(self, problem: Problem, completions: Sequence[str]) -> list[Verdict]:
        """Verify in parallel, one thread per zygote (the threads only wait on pipes); identical
        completions -- frequent when a small model samples a group -- are run once."""
        unique = list(dict.fromkeys(completions))
        if len(unique) <= 1 or self.workers <= 1:
            verdicts = [self.verify(problem, c) for c in unique]
        else:
            with ThreadPoolExecutor(self.workers) as ex:
                verdicts = list(ex.map(lambda c: self.verify(problem, c), unique))
        by_text = dict(zip(unique, verdicts, strict=True))
        return [by_text[c] for c in completions]

    def _run_cached(self, problem: Problem, code: str) -> harness.Outcome:
        """``_run`` behind a per-process LRU keyed by tests, limits and the code's hash.

        Only outcomes the sandbox fully reported are cached: a time-out or a kill may be due to
        machine load, so those are always run again.
        """
        tests = tuple(problem.data.get("tests") or ())
        key = (
            tests,
            problem.data.get("entry_point"),
            self.limits,
            hashlib.sha256(code.encode("utf-8", "surrogatepass")).digest(),
        )
        with _CACHE_LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                _CACHE.move_to_end(key)
                return hit
        outcome, cacheable = self._run_full(problem, code)
        if cacheable:
            with _CACHE_LOCK:
                _CACHE[key] = outcome
                if len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
        return outcome

    def _plan(self, problem: Problem) -> harness.TestPlan:
        tests = problem.data.get("tests") or [t for t in problem.answer.splitlines() if t.strip()]
        try:
            return _plan(tuple(tests), str(problem.data.get("entry_point", "")))
        except harness.TestFormatError as exc:
            raise ProblemRejected(str(exc)) from exc

    def _run(self, problem: Problem, code: str) -> harness.Outcome:
        """Run ``code`` against the problem's tests in a fresh sandboxed process (no cache)."""
        return self._run_full(problem, code)[0]

    def _run_full(self, problem: Problem, code: str) -> tuple[harness.Outcome, bool]:
        plan = self._plan(problem)
        raw = self.pool.run(code, [c.to_json() for c in plan.calls], self.limits)
        results = harness.decode_results(raw.raw, len(plan.calls))
        cacheable = not isinstance(results, str) and not raw.timed_out and not raw.error
        if isinstance(results, str):
            if raw.timed_out:
                results = f"time limit ({self.limits.wall_s:g}s wall) exceeded"
            elif raw.signal:
                results = f"killed by signal {raw.signal} ({results})"
        return harness.judge(plan, results), cacheable

    # -- problem sets ----------------------------------------------------------------------------
    def problem_sets(self) -> Mapping[str, ProblemSet]:
        sets: dict[str, ProblemSet] = {
            "bundled": ProblemSet(
                "bundled", "hand-written problems, all tiers", _shuffled(lambda: bundled_problems())
            ),
        }
        for tier in TIERS:
            sets[f"bundled-{tier}"] = ProblemSet(
                f"bundled-{tier}",
                f"hand-written problems, {tier} tier",
                _shuffled(
                    lambda t=tier: [p for p in bundled_problems() if p.data.get("tier") == t]
                ),
            )
        for level in range(1, LEVELS + 1):
            sets[f"mini-{level}"] = ProblemSet(
                f"mini-{level}", f"soar-mini chains of {level} operation(s)", _mini_loader(level)
            )
        if self.problems_file:
            path = self.problems_file
            sets["file"] = ProblemSet(
                "file",
                f"problems from {path} (HumanEval/MBPP/native JSONL)",
                _shuffled(lambda: formats.load_jsonl(path)[0]),
            )
        return sets

    # -- user input ---------------------------------------------------------------------------
    def problem_from_json(self, data: Mapping[str, Any]) -> Problem:
        return formats.problem_from_mapping(data)

    def mini_world(self) -> MiniWorld:
        return mini_world()

    def conformance_cases(self) -> ConformanceCases:
        p = formats.make_problem(
            pid="conf-inc",
            question="Return x plus one.\ndef inc(x):",
            tests=["assert inc(1) == 2", "assert inc(-5) == -4"],
            source="conformance",
        )
        mini = make_chain_problem(3, random.Random(0), pid="conf-mini")
        return ConformanceCases(
            valid_teacher_outputs=[
                "<question>Return x squared.\ndef sq(x):</question>"
                "<answer>assert sq(3) == 9\nassert sq(-2) == 4</answer>",
                "<question>Add a and b.\ndef add(a, b):</question>\n<answer>\n"
                "assert add(1, 2) == 3\n</answer>\n<solution>def add(a, b):\n    return a + b"
                "</solution>",
            ],
            malformed_teacher_outputs=[
                "no tags at all",
                "<question>Return 1.</question><answer>assert f() == 1</answer>",  # no def line
                "<question>def f(x):</question><answer>print(1)</answer>",  # not an assert
                "<question>def f(x):</question><answer>assert f(1) is None</answer>",  # trivial
                "<question>def f(x):</question><answer>assert f(1) == 2</answer>"
                "<solution>def f(x):\n    return 3</solution>",  # reference fails
            ],
            right=[
                (p, "```python\ndef inc(x):\n    return x + 1\n```"),
                (p, "def inc(x): return x+1"),
                (mini, mini_solution_text(mini)),
            ],
            wrong=[
                (p, "```python\ndef inc(x):\n    return x\n```"),
                (p, "import sys\nsys.exit(0)"),
                (
                    p,
                    "def inc(x):\n    class A:\n        def __eq__(s, o): return True\n"
                    "    return A()",
                ),
            ],
        )


def mini_solution_text(problem: Problem) -> str:
    from soarkit_code.mini import mini_solution

    return mini_solution(problem)


def _shuffled(make: Any) -> Any:
    def load(seed: int, limit: int | None) -> list[Problem]:
        problems = list(make())
        random.Random(f"code-{seed}").shuffle(problems)
        return problems[:limit] if limit is not None else problems

    return load


def _mini_loader(level: int) -> Any:
    def load(seed: int, limit: int | None) -> list[Problem]:
        rng = random.Random(f"code-mini-{level}-{seed}")
        return [make_chain_problem(level, rng, pid=f"mini{level}-{i}") for i in range(limit or 64)]

    return load
