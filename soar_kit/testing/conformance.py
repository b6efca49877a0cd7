"""Plugin conformance kit: checks that a domain honours the contract the SOAR loop relies on.

A third-party author runs it in their own CI, either from pytest::

    from soar_kit.testing import assert_domain_conforms
    def test_my_domain():
        assert_domain_conforms(MyDomain())

or from the shell: ``soarkit check-plugin NAME``. Each check exercises behaviour, not
declarations: teacher outputs parse or are rejected with a reason, the verifier accepts the
right answers and refuses the wrong ones, rewards stay in the declared range, hostile
completions never raise, problem sets are reproducible from their seed and problems survive a
JSON round trip.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from soar_kit.contracts.domain import Domain
from soar_kit.contracts.records import Problem, Verdict
from soar_kit.errors import ProblemRejected

#: Completions every verifier must survive (judged not correct, no exception, bounded time).
HOSTILE_COMPLETIONS: tuple[str, ...] = (
    "",
    " ",
    "\\boxed{",
    "\\boxed{}" * 50,
    "}" * 1000 + "{" * 1000,
    "__import__('os').system('echo pwned')",
    "\\boxed{__import__('os').system('echo pwned')}",
    "```python\nimport os\nos._exit(0)\n```",
    "\x00\x01\x02 binary \xff",
    "9" * 10_000,
    "\\boxed{9**9**9**9}",
    "a" * 200_000,
)

#: Seconds one verification may take in the kit (generous: CI machines are slow and shared).
VERIFY_TIME_LIMIT = 10.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str = ""


class ConformanceError(AssertionError):
    """Raised by :func:`assert_domain_conforms` with every failed check listed."""


def check_domain(domain: Domain, *, seed: int = 0) -> list[CheckResult]:
    """Run every check; never raises for a misbehaving domain (failures are results)."""
    results: list[CheckResult] = []

    def run(name: str, fn: Callable[[], str | None]) -> None:
        try:
            problem = fn()
        except Exception as exc:
            results.append(CheckResult(name, False, f"raised {type(exc).__name__}: {exc}"))
            return
        results.append(CheckResult(name, problem is None, problem or ""))

    cases = None

    def get_cases() -> str | None:
        nonlocal cases
        cases = domain.conformance_cases()
        if not cases.valid_teacher_outputs or not cases.malformed_teacher_outputs:
            return "conformance_cases() needs valid and malformed teacher outputs"
        if not cases.right or not cases.wrong:
            return "conformance_cases() needs right and wrong (problem, completion) pairs"
        return None

    run("identity: name, description, reward range", lambda: _check_identity(domain))
    run("conformance cases provided", get_cases)
    if cases is None:
        return results
    rng = random.Random(seed)
    run("teacher prompt is non-empty text", lambda: _check_teacher_prompt(domain, rng))
    run(
        "valid teacher outputs parse",
        lambda: _check_valid_outputs(domain, cases.valid_teacher_outputs),
    )
    run(
        "malformed teacher outputs are rejected with a reason",
        lambda: _check_malformed_outputs(domain, cases.malformed_teacher_outputs),
    )
    run("known-right answers verify as correct", lambda: _check_pairs(domain, cases.right, True))
    run("known-wrong answers verify as incorrect", lambda: _check_pairs(domain, cases.wrong, False))
    run("hostile completions: no crash, not correct", lambda: _check_hostile(domain, cases.right))
    run("problems round-trip through JSON", lambda: _check_round_trip(domain, cases.right))
    run("problem sets load and are reproducible", lambda: _check_problem_sets(domain, seed))
    return results


def assert_domain_conforms(domain: Domain, *, seed: int = 0) -> None:
    """pytest-friendly: raise :class:`ConformanceError` listing every failed check."""
    failed = [r for r in check_domain(domain, seed=seed) if not r.ok]
    if failed:
        lines = "\n".join(f"- {r.name}: {r.detail}" for r in failed)
        raise ConformanceError(f"domain '{domain.name}' fails {len(failed)} check(s):\n{lines}")


# -- the checks: each returns None when fine, else what is wrong -----------------------------


def _check_identity(domain: Domain) -> str | None:
    name = getattr(domain, "name", None)
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        return f"name must be a non-empty word, got {name!r}"
    lo, hi = domain.reward_range
    if not lo < hi:
        return f"reward_range must be (low, high) with low < high, got {domain.reward_range}"
    if domain.default_problem_set and domain.default_problem_set not in domain.problem_sets():
        return f"default_problem_set '{domain.default_problem_set}' is not in problem_sets()"
    return None


def _check_teacher_prompt(domain: Domain, rng: random.Random) -> str | None:
    for _ in range(3):
        prompt = domain.teacher_prompt(rng)
        if not isinstance(prompt, str) or not prompt.strip():
            return f"teacher_prompt returned {prompt!r}"
    return None


def _check_valid_outputs(domain: Domain, outputs: list[str]) -> str | None:
    for i, text in enumerate(outputs):
        try:
            problem = domain.parse_teacher_output(text, problem_id=f"valid-{i}")
        except ProblemRejected as exc:
            return f"valid output #{i} rejected: {exc.reason}"
        if not isinstance(problem, Problem):
            return f"valid output #{i} gave {type(problem).__name__}, not Problem"
        if problem.domain != domain.name:
            return f"parsed problem has domain {problem.domain!r}, expected {domain.name!r}"
        prompt = domain.student_prompt(problem)
        if not isinstance(prompt, str) or not prompt.strip():
            return f"student_prompt returned {prompt!r} for valid output #{i}"
    return None


def _check_malformed_outputs(domain: Domain, outputs: list[str]) -> str | None:
    for i, text in enumerate(outputs):
        try:
            problem = domain.parse_teacher_output(text, problem_id=f"bad-{i}")
        except ProblemRejected as exc:
            if not exc.reason.strip():
                return f"malformed output #{i} rejected without a reason"
            continue
        return f"malformed output #{i} was accepted as {problem!r:.120}"
    return None


def _timed_verify(domain: Domain, problem: Problem, completion: str) -> tuple[Verdict, float]:
    start = time.perf_counter()
    verdict = domain.verify(problem, completion)
    return verdict, time.perf_counter() - start


def _check_verdict(domain: Domain, verdict: object, took: float) -> str | None:
    if not isinstance(verdict, Verdict):
        return f"verify returned {type(verdict).__name__}, not Verdict"
    lo, hi = domain.reward_range
    if not lo <= verdict.reward <= hi:
        return f"reward {verdict.reward} outside reward_range {domain.reward_range}"
    if took > VERIFY_TIME_LIMIT:
        return f"verification took {took:.1f}s (limit {VERIFY_TIME_LIMIT}s)"
    return None


def _check_pairs(domain: Domain, pairs: list[tuple[Problem, str]], expected: bool) -> str | None:
    for i, (problem, completion) in enumerate(pairs):
        verdict, took = _timed_verify(domain, problem, completion)
        bad = _check_verdict(domain, verdict, took)
        if bad:
            return f"pair #{i}: {bad}"
        if verdict.correct is not expected:
            return (
                f"pair #{i}: expected correct={expected}, got {verdict.correct} ({verdict.reason})"
            )
    if expected:
        top = max(domain.verify(p, c).reward for p, c in pairs)
        wrongish = domain.verify(pairs[0][0], "").reward
        if not top > wrongish:
            return "a correct answer must earn more reward than an empty completion"
    return None


def _check_hostile(domain: Domain, pairs: list[tuple[Problem, str]]) -> str | None:
    problem = pairs[0][0]
    for text in HOSTILE_COMPLETIONS:
        verdict, took = _timed_verify(domain, problem, text)
        bad = _check_verdict(domain, verdict, took)
        if bad:
            return f"completion {text[:40]!r}: {bad}"
        if verdict.correct:
            return f"hostile completion {text[:40]!r} was judged correct"
    return None


def _check_round_trip(domain: Domain, pairs: list[tuple[Problem, str]]) -> str | None:
    for problem, completion in pairs:
        data = json.loads(json.dumps(problem.model_dump(mode="json")))
        again = domain.problem_from_json(data)
        if domain.verify(again, completion).correct != domain.verify(problem, completion).correct:
            return f"problem {problem.id} verifies differently after a JSON round trip"
    return None


def _check_problem_sets(domain: Domain, seed: int) -> str | None:
    sets = domain.problem_sets()
    if not sets:
        return "problem_sets() is empty: a domain needs at least one set to mine hard sets from"
    for name in sets:
        first = domain.load_problem_set(name, seed=seed, limit=5)
        again = domain.load_problem_set(name, seed=seed, limit=5)
        if not first:
            return f"problem set '{name}' is empty"
        if [p.model_dump() for p in first] != [p.model_dump() for p in again]:
            return f"problem set '{name}' differs between two loads with the same seed"
        if len({p.id for p in first}) != len(first):
            return f"problem set '{name}' has duplicate ids"
        if any(p.domain != domain.name for p in first):
            return f"problem set '{name}' has problems of another domain"
    return None
