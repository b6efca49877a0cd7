"""User-supplied HumanEval checks that do more than assert: run them once, in the sandbox.

The harness judges a candidate by assert lines it compiles itself (:mod:`soarkit_code.harness`),
so it can trust no check that runs code in the candidate's process. The assert-only rule is
right for teacher-written tests, but a benchmark's ``check(candidate)`` may loop, import,
assign or call helpers of its prompt (``poly``, ``encode_cyclic``). Such a check is user code,
so it runs in the sandbox like any code: once, when the file loads, with the record's
canonical solution standing in for the candidate behind a recorder. Every call the check makes
becomes one assert line -- the recorded arguments and the canonical solution's result -- that
the harness judges as usual. So these records load, and a student is still judged on values it
computed, never by code running beside it.

What changes: the check's inputs are fixed at load (a check that draws random inputs is
reproducible from then on), at most :data:`~soarkit_code.formats.MAX_TESTS` calls are kept,
and the check's own condition becomes equality with the canonical result (``math.isclose``
for floats): a check that accepts any of several answers (``find_zero`` accepts any root)
becomes stricter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from soar_kit.errors import ProblemRejected

_DRIVER = """

def __soarkit_unroll():
    import copy as __copy
    __calls = []

    def __recorder(*args, **kwargs):
        __seen = __copy.deepcopy([list(args), kwargs])
        __result = {entry}(*args, **kwargs)
        __calls.append([__seen[0], __seen[1], __copy.deepcopy(__result)])
        return __result

    check(__recorder)
    return __calls
"""


def literal(value: Any) -> str:
    """Python source of a plain value that the harness's test compiler accepts."""
    if isinstance(value, float):
        if math.isnan(value):
            return "float('nan')"
        if math.isinf(value):
            return "float('inf')" if value > 0 else "-float('inf')"
        return repr(value)
    if isinstance(value, bool | int | str | bytes | complex) or value is None:
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, set | frozenset):
        name = "set" if isinstance(value, set) else "frozenset"
        return f"{name}([" + ", ".join(literal(v) for v in sorted(value, key=repr)) + "])"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise ProblemRejected(f"check recorded a value of type {type(value).__name__}")


def _has_float(value: Any) -> bool:
    return isinstance(value, float)


def assert_line(entry: str, args: list[Any], kwargs: Mapping[str, Any], result: Any) -> str:
    parts = [literal(a) for a in args] + [f"{k}={literal(v)}" for k, v in kwargs.items()]
    call = f"{entry}({', '.join(parts)})"
    if _has_float(result) and math.isfinite(result):
        return f"assert math.isclose({call}, {literal(result)}, rel_tol=1e-6, abs_tol=1e-6)"
    return f"assert {call} == {literal(result)}"


def unroll_check(rec: Mapping[str, Any], entry: str, max_tests: int) -> tuple[list[str], int]:
    """Assert lines from running the record's check on its canonical solution in the sandbox,
    and how many calls the check made. Raises :class:`ProblemRejected` with a reason."""
    from soarkit_code import harness
    from soarkit_code.sandbox import Limits, SandboxError, shared_pool

    code = (
        str(rec["prompt"])
        + str(rec["canonical_solution"])
        + "\n\n"
        + str(rec["test"])
        + _DRIVER.format(entry=entry)
    )
    limits = Limits(cpu_s=10, wall_s=30.0)
    try:
        raw = shared_pool(1, limits).run(
            code, [{"fn": "__soarkit_unroll", "args": "((), {})"}], limits
        )
    except (SandboxError, OSError) as exc:
        raise ProblemRejected(f"sandbox unavailable to run the check: {exc}") from exc
    results = harness.decode_results(raw.raw, 1)
    if isinstance(results, str):
        why = "time limit" if raw.timed_out else results
        raise ProblemRejected(f"check failed on the canonical solution ({why})")
    ok, calls = results[0]
    if not ok:
        raise ProblemRejected(f"check failed on the canonical solution: {str(calls)[:80]}")
    lines: list[str] = []
    for item in calls:
        args, kwargs, result = item
        line = assert_line(entry, list(args), dict(kwargs), result)
        if line not in lines:
            lines.append(line)
        if len(lines) == max_tests:
            break
    if not lines:
        raise ProblemRejected("check never calls the candidate")
    return lines, len(calls)
