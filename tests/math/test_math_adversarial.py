"""Hostile completions and teacher outputs: a verdict of "not correct" in bounded time.

Every case goes through the public ``MathDomain.verify`` (the path a SOAR run uses), on the
main thread, off it, and inside a daemonic worker process (where ``signal.alarm`` and
``multiprocessing`` children are unavailable). Nothing may be executed: the code-looking cases
try to create a marker file, and the test checks it never appears.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from soarkit_math import MathDomain
from soarkit_math.budget import HelperPool
from soarkit_math.verifier import Verifier

from soar_kit.contracts.records import Problem
from soar_kit.errors import ProblemRejected

#: Seconds one hostile verification may take, wall clock, including a helper restart.
PER_CASE_LIMIT_S = 8.0

MARKER = Path("/tmp/soarkit-math-pwned")
_touch = f"open('{MARKER}','w').write('x')"

HOSTILE: dict[str, str] = {
    "power tower python": "\\boxed{9**9**9**9}",
    "power tower latex": "\\boxed{9^{9^{9^{9}}}}",
    "power tower 2s": "\\boxed{2^{2^{2^{2^{2^{2}}}}}}",
    "ten to ten to ten": "\\boxed{10^{10^{10}}}",
    "tiny power": "\\boxed{10^{-10^{10}}}",
    "big decimal exponent": "\\boxed{1e99999999}",
    "multi factorial": "\\boxed{10!!!!!!}",
    "factorial of factorial": "\\boxed{(10!)!}",
    "factorial big": "\\boxed{100000000!}",
    "exp tower": "\\boxed{e^{e^{e^{e^{10}}}}}",
    "exp function tower": "\\boxed{\\exp(\\exp(\\exp(\\exp(10))))}",
    "huge binomial": "\\boxed{\\binom{10^{9}}{5 \\cdot 10^{8}}}",
    "huge product": "\\boxed{\\prod_{k=1}^{10^{7}} k}",
    "huge sum": "\\boxed{\\sum_{n=1}^{10^{12}} n^{n}}",
    "deep parens": "\\boxed{" + "(" * 5000 + "1" + ")" * 5000 + "}",
    "deep braces": "\\boxed{" + "{" * 3000 + "1" + "}" * 3000 + "}",
    "deep fractions": "\\boxed{" + "\\frac{1}{" * 300 + "2" + "}" * 300 + "}",
    "deep sqrt": "\\boxed{" + "\\sqrt{" * 400 + "2" + "}" * 400 + "}",
    "unbalanced 1MB": "\\boxed{" + "(" * 1_000_000,
    "1MB digits boxed": "\\boxed{" + "7" * 1_000_000 + "}",
    "1MB text no box": "x" * 1_000_000,
    "1MB sum boxed": "\\boxed{" + "x+" * 500_000 + "1}",
    "many boxes": "\\boxed{1}" * 100_000,
    "many answer tags": "<answer>" * 100_000,
    "many unbalanced boxes": "\\boxed{" * 150_000,
    "answer then unbalanced boxes": "\\boxed{1} " + "\\boxed{" * 150_000,
    "fbox boxed unbalanced mix": "\\fbox{\\boxed{" * 70_000,
    "many full stops": "\\boxed{1" + "." * 1500 + "}",
    "nested boxes": "\\boxed{" * 20_000 + "1" + "}" * 20_000,
    "dunder import": "\\boxed{__import__('os').system('touch " + str(MARKER) + "')}",
    "exec": '\\boxed{exec("' + _touch + '")}',
    "eval": '\\boxed{eval("' + _touch + '")}',
    "lambda": "\\boxed{(lambda: " + _touch + ")()}",
    "attribute chain": "\\boxed{().__class__.__bases__[0].__subclasses__()}",
    "open file": "\\boxed{" + _touch + "}",
    "getattr": "\\boxed{getattr(__builtins__, 'eval')('1')}",
    "sympy Function injection": "\\boxed{Function('f')(x)}",
    "plain text code": "The answer is __import__('os').getcwd()",
    "answer tag code": "<answer>__import__('os')</answer>",
    "null bytes": "\\boxed{\x00\x00\x001/2\x00}",
    "lone surrogate": "\\boxed{\udcff\ud800}",
    "division by zero": "\\boxed{\\frac{1}{0}}",
    "nan": "\\boxed{\\infty - \\infty}",
    "many symbols": "\\boxed{" + "+".join(f"a_{{{i}}}" for i in range(3000)) + "}",
    "big matrix": "\\boxed{\\begin{pmatrix}"
    + "\\\\".join(["1&" * 60 + "1"] * 60)
    + "\\end{pmatrix}}",
    "integral loop": "\\boxed{\\int_0^{\\infty} e^{-x^{x^{x}}} dx}",
    "deep parens, short": "\\boxed{" + "(" * 100 + "1" + ")" * 100 + "}",
    "deep fractions, short": "\\boxed{" + "\\frac{1}{" * 30 + "2" + "}" * 30 + "}",
    "deep brackets mixed": "\\boxed{" + "[(" * 40 + "1" + ")]" * 40 + "}",
    "left right spam": "\\boxed{" + "\\left(" * 200 + "1" + "\\right)" * 200 + "}",
}


@pytest.fixture(scope="module")
def domain() -> MathDomain:
    return MathDomain()


@pytest.fixture(scope="module")
def half() -> Problem:
    return Problem(id="h", question="1/2?", answer="\\frac{1}{2}", domain="math")


def _check(domain: MathDomain, problem: Problem, text: str) -> tuple[bool, float, float]:
    start = time.perf_counter()
    verdict = domain.verify(problem, text)
    took = time.perf_counter() - start
    lo, hi = domain.reward_range
    assert lo <= verdict.reward <= hi
    return verdict.correct, took, verdict.reward


def test_suite_is_big_enough() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_completion(domain: MathDomain, half: Problem, name: str) -> None:
    MARKER.unlink(missing_ok=True)
    correct, took, _ = _check(domain, half, HOSTILE[name])
    assert not correct
    assert took < PER_CASE_LIMIT_S, f"{name} took {took:.1f}s"
    assert not MARKER.exists(), f"{name} executed code"


def test_still_correct_after_hostile_input(domain: MathDomain, half: Problem) -> None:
    """A killed helper is replaced: the next honest answer is judged normally."""
    _check(domain, half, HOSTILE["huge binomial"])
    correct, _, reward = _check(domain, half, "\\boxed{\\sqrt{\\frac{1}{4}}}")
    assert correct and reward == 1.2


@pytest.mark.parametrize(
    "text",
    [
        "<question>Q</question><answer>\\boxed{9^{9^{9^{9}}}}</answer>",
        "<question>Q</question><answer>__import__('os')</answer>",
        "<question>Q</question><answer>" + "(" * 100 + "</answer>",
        "<question>Q</question><answer>\\binom{10^{9}}{5 \\cdot 10^{8}}</answer>",
        "<question>" * 50_000,
        "<question>Q</question><answer>" + "1" * 5000 + "</answer>",
    ],
)
def test_hostile_teacher_output_is_rejected(domain: MathDomain, text: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ProblemRejected) as info:
        domain.parse_teacher_output(text, problem_id="t")
    assert info.value.reason
    assert time.perf_counter() - start < PER_CASE_LIMIT_S


def test_hostile_gold_does_not_crash(domain: MathDomain) -> None:
    evil = Problem(id="e", question="?", answer="9^{9^{9^{9}}}", domain="math")
    _, took, _ = _check(domain, evil, "\\boxed{9^{9^{9^{9}}}}")
    assert took < PER_CASE_LIMIT_S  # identical strings are equal; that is fine and instant
    assert not _check(domain, evil, "\\boxed{3}")[0]


def test_a_comparison_over_budget_is_a_timeout_and_the_helper_recovers() -> None:
    verifier = Verifier(timeout=0.2, pool=HelperPool(size=1))
    start = time.perf_counter()
    check = verifier.compare("(x+1)^{200}", "(x+1)^{199}(x+1)+1")
    assert check.status == "timeout"
    assert time.perf_counter() - start < 2.0  # deadline + kill, not the whole expansion
    assert verifier.pool.kills == 1
    assert verifier.compare("\\frac{1}{2}", "\\sqrt{1/4}").equal
    verifier.pool.close()


_THREAD_CASES = ["power tower latex", "huge binomial", "deep fractions", "dunder import"]


def test_off_the_main_thread(domain: MathDomain, half: Problem) -> None:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: _check(domain, half, HOSTILE[n]), _THREAD_CASES))
        honest = pool.submit(_check, domain, half, "\\boxed{\\frac{2}{4}}").result()
    assert not any(r[0] for r in results)
    assert honest[0]
    assert time.perf_counter() - start < 3 * PER_CASE_LIMIT_S


def _verify_in_child(text: str) -> tuple[bool, float]:
    domain = MathDomain()
    problem = Problem(id="h", question="1/2?", answer="\\frac{1}{2}", domain="math")
    start = time.perf_counter()
    verdict = domain.verify(problem, text)
    return verdict.correct, time.perf_counter() - start


def test_inside_a_daemonic_worker_process() -> None:
    """multiprocessing pool workers are daemonic: they may not start multiprocessing children,
    and signal.alarm is useless to a verifier running on one of their threads."""
    ctx = multiprocessing.get_context("fork")
    texts = [HOSTILE["huge binomial"], HOSTILE["power tower latex"], "\\boxed{\\sqrt{1/4}}"]
    with ctx.Pool(1) as pool:
        results = pool.map(_verify_in_child, texts)
    assert [r[0] for r in results] == [False, False, True]
    assert all(r[1] < PER_CASE_LIMIT_S for r in results)


def test_a_crashed_helper_is_invalid_not_timeout_and_is_replaced() -> None:
    import threading

    pool = HelperPool(size=1)
    verifier = Verifier(timeout=20.0, pool=pool)
    assert verifier.compare("x+1", "1+x").equal  # starts the helper
    helper = pool._idle[0]
    # die mid-request, as if SymPy had segfaulted on this input: the helper is stopped first so
    # it cannot answer before the kill lands, however fast the machine is
    os.kill(helper.proc.pid, signal.SIGSTOP)
    threading.Timer(0.3, helper.proc.kill).start()
    start = time.perf_counter()
    check = verifier.compare("(x+1)^{300}", "(x+1)^{299}(x+1)+1")
    assert check.status == "invalid" and check.detail == "helper crashed"
    assert time.perf_counter() - start < 10  # noticed at once, not after the 20 s budget
    assert pool.kills == 1
    assert verifier.compare("x+2", "2+x").equal  # a fresh helper takes over
    pool.close()
