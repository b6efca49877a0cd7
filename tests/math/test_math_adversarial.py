"""Hostile completions and teacher outputs: a verdict of "not correct" in bounded time.

Every case goes through the public ``MathDomain.verify`` (the path a SOAR run uses), on the
main thread, off it, and inside a daemonic worker process (where ``signal.alarm`` and
``multiprocessing`` children are unavailable). Nothing may be executed: the code-looking cases
try to create a marker file, and the test checks it never appears.

No test here reads a clock: how long a case takes depends on the machine. What is asserted is
what happened (the verdict, its status, how many helpers were killed). The budget itself is
tested with a helper that cannot answer by construction (it is stopped with SIGSTOP), so the
request overruns its deadline on any machine, however fast.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from soarkit_math import MathDomain
from soarkit_math.budget import HelperPool
from soarkit_math.verifier import Verifier

from soar_kit.contracts.records import Problem
from soar_kit.errors import ProblemRejected

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
def patient() -> MathDomain:
    """For verdicts that must be "correct": a budget no honest comparison overruns anywhere.
    (Hostile cases use the default budget: refused or timed out, they are not correct.)"""
    return MathDomain().with_options({"timeout": 3600})


@pytest.fixture(scope="module")
def half() -> Problem:
    return Problem(id="h", question="1/2?", answer="\\frac{1}{2}", domain="math")


def _check(domain: MathDomain, problem: Problem, text: str) -> tuple[bool, float]:
    verdict = domain.verify(problem, text)
    lo, hi = domain.reward_range
    assert lo <= verdict.reward <= hi
    return verdict.correct, verdict.reward


def test_suite_is_big_enough() -> None:
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_completion(domain: MathDomain, half: Problem, name: str) -> None:
    MARKER.unlink(missing_ok=True)
    correct, _ = _check(domain, half, HOSTILE[name])
    assert not correct
    assert not MARKER.exists(), f"{name} executed code"


def test_still_correct_after_hostile_input(patient: MathDomain, half: Problem) -> None:
    """After a refused hostile answer the next honest answer is judged normally."""
    assert not _check(patient, half, HOSTILE["huge binomial"])[0]
    correct, reward = _check(patient, half, "\\boxed{\\sqrt{\\frac{1}{4}}}")
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
    with pytest.raises(ProblemRejected) as info:
        domain.parse_teacher_output(text, problem_id="t")
    assert info.value.reason


def test_hostile_gold_does_not_crash(domain: MathDomain) -> None:
    evil = Problem(id="e", question="?", answer="9^{9^{9^{9}}}", domain="math")
    assert _check(domain, evil, "\\boxed{9^{9^{9^{9}}}}")[0]  # identical strings: equal, no SymPy
    assert not _check(domain, evil, "\\boxed{3}")[0]


def _stopped_helper(pool: HelperPool) -> int:
    """Start the pool's one helper and stop it (SIGSTOP): it can read no request and answer
    none, so the next request overruns any deadline by construction. Returns its pid."""
    assert Verifier(timeout=3600.0, pool=pool).compare("x+1", "1+x").equal  # starts it
    helper = pool._idle[0]
    os.kill(helper.proc.pid, signal.SIGSTOP)
    return helper.proc.pid


def test_a_comparison_over_budget_is_a_timeout_and_the_helper_recovers() -> None:
    pool = HelperPool(size=1)
    verifier = Verifier(timeout=0.2, pool=pool)
    stopped = _stopped_helper(pool)
    check = verifier.compare("(x+1)^{2}", "x^2+2x+1")
    assert check.status == "timeout"
    assert pool.kills == 1  # the stopped helper was killed, not waited for
    # a fresh helper (started under a budget no machine can overrun) takes over
    assert Verifier(timeout=3600.0, pool=pool).compare("\\frac{1}{2}", "\\sqrt{1/4}").equal
    assert pool._idle[0].proc.pid != stopped
    pool.close()


_THREAD_CASES = ["power tower latex", "huge binomial", "deep fractions", "dunder import"]


def test_off_the_main_thread(patient: MathDomain, half: Problem) -> None:
    # these four are refused by the guards, before any SymPy work: no budget is needed
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: _check(patient, half, HOSTILE[n]), _THREAD_CASES))
        honest = pool.submit(_check, patient, half, "\\boxed{\\frac{2}{4}}").result()
    assert not any(r[0] for r in results)
    assert honest[0]


def _verify_in_child(text: str) -> bool:
    domain = MathDomain().with_options({"timeout": 3600})  # the two hostile ones are refused
    problem = Problem(id="h", question="1/2?", answer="\\frac{1}{2}", domain="math")
    return domain.verify(problem, text).correct


def test_inside_a_daemonic_worker_process() -> None:
    """multiprocessing pool workers are daemonic: they may not start multiprocessing children,
    and signal.alarm is useless to a verifier running on one of their threads."""
    ctx = multiprocessing.get_context("fork")
    texts = [HOSTILE["huge binomial"], HOSTILE["power tower latex"], "\\boxed{\\sqrt{1/4}}"]
    with ctx.Pool(1) as pool:
        results = pool.map(_verify_in_child, texts)
    assert results == [False, False, True]


def test_a_crashed_helper_is_invalid_not_timeout_and_is_replaced() -> None:
    """A helper that dies mid-request (as if SymPy had segfaulted) is "invalid: helper crashed",
    noticed from the closed pipe rather than after the budget: the budget here is an hour, so
    a "timeout" path could not answer within the test at all."""
    pool = HelperPool(size=1)
    verifier = Verifier(timeout=3600.0, pool=pool)
    assert verifier.compare("x+1", "1+x").equal  # starts the helper
    helper = pool._idle[0]
    read_answer = helper._read_line

    def die_then_read(deadline: float) -> bytes | None:
        # the request has been written; the helper dies before it can answer, on any machine
        helper.proc.kill()
        helper.proc.wait()
        return read_answer(deadline)

    helper._read_line = die_then_read  # type: ignore[method-assign]
    check = verifier.compare("(x+1)^{3}", "x^3+3x^2+3x+2")
    assert check.status == "invalid" and check.detail == "helper crashed"
    assert pool.kills == 1
    assert verifier.compare("x+2", "2+x").equal  # a fresh helper takes over
    pool.close()


# -- never a false "equal": values that differ beyond float precision ----------------------------
FALSE_EQUAL: list[tuple[str, str]] = [
    # big integers and large exponents
    ("10^{20}+1", "10^{20}"),
    ("2^{100}", "2^{100}+1"),
    ("3^{200}", "3^{200}-1"),
    ("2^{2^{10}}", "2^{1024}+1"),
    ("12345678901234567890123", "12345678901234567890124"),
    ("10^{40}", "10^{40}+10^{10}"),
    ("7^{77}", "7^{77} \\cdot (1 + 10^{-50})"),
    ("100!", "100! + 1"),
    # near-equal rationals
    ("\\frac{10^{30}+1}{10^{30}}", "1"),
    ("\\frac{1}{3}", "\\frac{333333333333333333}{10^{18}}"),
    ("\\frac{10^{25}}{10^{25}+1}", "1"),
    ("1 - 10^{-40}", "1"),
    ("\\frac{2^{64}+1}{2^{64}}", "\\frac{2^{64}+2}{2^{64}}"),
    # high-degree polynomials and rational functions
    ("(x+1)^{200}", "(x+1)^{199}(x+1)+1"),
    ("(x+1)^{50}", "(x+1)^{50}-1"),
    ("(x-1)^{60}", "(x-1)^{59}(x-1)+10^{-30}"),
    ("(x+y)^{20}", "(x+y)^{19}(x+y) + x y^{19} - x y^{19} + 1"),
    ("\\frac{(x+1)^{40}}{x}", "\\frac{(x+1)^{40}+1}{x}"),
    ("x^{100}", "x^{100}+10^{-20}"),
    # irrational values and symbolic non-polynomials: a tiny difference is still a difference
    ("\\pi", "\\pi + 10^{-40}"),
    ("\\sqrt{2}", "\\sqrt{2} + 10^{-25}"),
    ("e^{x}(x+1)^{50}", "e^{x}((x+1)^{50}+1)"),
    ("\\sin(x) + 10^{20}", "\\sin(x) + 10^{20} + 1"),
    # equations and tuples carry the same rule
    ("x = 10^{20}+1", "x = 10^{20}"),
    ("(10^{20}, 1)", "(10^{20}+1, 1)"),
    # an exact form is never "rounded" to a decimal gold
    ("3.85", "\\frac{27}{7}"),
]


@pytest.mark.parametrize(("gold", "pred"), FALSE_EQUAL)
def test_never_a_false_equal(gold: str, pred: str) -> None:
    check = Verifier(timeout=3600.0).compare(gold, pred)
    assert check.status == "different", check


def test_false_equal_suite_is_big_enough() -> None:
    assert len(FALSE_EQUAL) >= 20


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        ("(x+1)^{30}", "(x+1)^{29}(x+1)"),  # the exact path still says equal when it is
        ("2^{100}", "1267650600228229401496703205376"),
        ("\\frac{10^{30}+1}{10^{30}}", "1 + 10^{-30}"),
        ("\\sqrt{8}", "2.828"),  # the rounding policy, on a decimal literal
    ],
)
def test_the_exact_path_still_finds_equal(gold: str, pred: str) -> None:
    assert Verifier(timeout=3600.0).compare(gold, pred).equal
