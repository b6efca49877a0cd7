"""Text formats of the code domain: teacher output, student code, problem JSON, HumanEval/MBPP.

Nothing here executes candidate or teacher text: parsing uses regular expressions and
:mod:`ast` only (``ast.parse`` builds a tree, it runs nothing).

Problem JSON (``soarkit verify --domain code --problem P.json``)::

    {
      "id": "add-one",                       # optional
      "prompt": "Return x plus one.\\ndef f(x):",  # statement shown to the student ("question" also ok)
      "entry_point": "f",                    # optional: taken from the first `def` line
      "tests": ["assert f(1) == 2", ...],    # assert lines, the harness judges them
      "reference": "def f(x):\\n    return x + 1"  # optional reference solution
    }

A serialised :class:`~soar_kit.records.Problem` (what runs store) and single HumanEval or MBPP
records are accepted too.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from soar_kit.contracts.records import Problem
from soar_kit.errors import InvalidInput, ProblemRejected
from soarkit_code.harness import TestFormatError, compile_tests

DOMAIN = "code"
_TAG = {t: re.compile(rf"<{t}>(.*?)</{t}>", re.S) for t in ("question", "answer", "solution")}
SIGNATURE = re.compile(r"^[ \t]*def[ \t]+([A-Za-z_]\w*)[ \t]*\((.*?)\)[^:\n]*:", re.M)
_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)
MAX_CODE_CHARS = 50_000
MAX_TESTS = 64


def make_problem(
    *,
    pid: str,
    question: str,
    tests: list[str],
    entry_point: str | None = None,
    reference: str | None = None,
    source: str = "user",
    extra: Mapping[str, Any] | None = None,
) -> Problem:
    """Build a checked code :class:`Problem`; raises :class:`ProblemRejected` with a reason."""
    question = question.strip("\n")
    if not question.strip():
        raise ProblemRejected("empty problem statement")
    if entry_point is None:
        m = SIGNATURE.search(question) or (SIGNATURE.search(reference) if reference else None)
        if not m:
            raise ProblemRejected("no function signature (a 'def name(args):' line)")
        entry_point = m.group(1)
    if not re.fullmatch(r"[A-Za-z_]\w*", entry_point):
        raise ProblemRejected(f"bad entry point {entry_point!r}")
    tests = [t.strip() for t in tests if t.strip()]
    if not tests:
        raise ProblemRejected("no tests")
    if len(tests) > MAX_TESTS:
        raise ProblemRejected(f"too many tests (max {MAX_TESTS})")
    try:
        compile_tests(tests, entry_point)
    except TestFormatError as exc:
        raise ProblemRejected(str(exc)) from exc
    sig = SIGNATURE.search(question)
    data: dict[str, Any] = {
        "entry_point": entry_point,
        "signature": sig.group(0).strip() if sig else f"def {entry_point}(...):",
        "tests": tests,
    }
    if reference:
        data["reference"] = reference
    data.update(extra or {})
    return Problem(
        id=pid,
        question=question,
        answer="\n".join(tests),
        domain=DOMAIN,
        data=data,
        source=source,
    )


def split_tests(text: str) -> list[str]:
    """Assert statements of a block, one per statement (multi-line asserts kept whole)."""
    try:
        module = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ProblemRejected("tests do not parse as Python") from exc
    out = []
    for stmt in module.body:
        if not isinstance(stmt, ast.Assert):
            raise ProblemRejected("tests must be assert statements only")
        # keep the author's text (the tiny model reads it); unparse only if it cannot be cut out
        out.append(ast.get_source_segment(text, stmt) or ast.unparse(stmt))
    return out


# -- teacher ------------------------------------------------------------------------------------

TEACHER_PROMPT = "New Python task: <question> with a def line, <answer> with assert tests.\n"


def parse_teacher(text: str, problem_id: str) -> Problem:
    """``<question>statement + def line</question><answer>asserts</answer>[<solution>code</solution>]``."""
    if len(text) > 20_000:
        raise ProblemRejected("teacher output too long")
    q = _TAG["question"].search(text)
    if not q:
        raise ProblemRejected("missing <question>")
    a = _TAG["answer"].search(text, q.end())
    if not a:
        raise ProblemRejected("missing <answer>")
    question = q.group(1).strip()
    if not SIGNATURE.search(question):
        raise ProblemRejected("no function signature in <question>")
    tests = split_tests(a.group(1).strip())
    s = _TAG["solution"].search(text, q.end())
    reference = s.group(1).strip("\n") if s else None
    return make_problem(
        pid=problem_id, question=question, tests=tests, reference=reference, source="teacher"
    )


# -- student ------------------------------------------------------------------------------------


def extract_code(completion: str) -> str:
    """The code block of a student completion: the last fenced block defining something, else the
    last fenced block, else the whole text (raw code, as in ``--answer-file S.py``)."""
    blocks = _FENCE.findall(completion)
    if blocks:
        with_def = [b for b in blocks if "def " in b or "lambda" in b]
        return (with_def or blocks)[-1]
    # Unfenced: prose before the code ("Here is my solution:") would be a syntax error; start at
    # the first line that looks like code, if the whole text does not parse (parse only, no run).
    if not _parses(completion):
        m = _CODE_START.search(completion)
        if m and _parses(completion[m.start() :]):
            return completion[m.start() :]
    return completion


_CODE_START = re.compile(r"^(?:def|class|import|from|@)\b", re.M)


def _parses(text: str) -> bool:
    if len(text) > MAX_CODE_CHARS:
        return False
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


# -- problem JSON --------------------------------------------------------------------------------


def problem_from_mapping(data: Mapping[str, Any]) -> Problem:
    """Any accepted JSON problem shape -> Problem (:class:`InvalidInput` naming what is wrong)."""
    try:
        if "data" in data and "answer" in data and isinstance(data["data"], Mapping):
            d = dict(data["data"])
            extra = {
                k: v
                for k, v in d.items()
                if k not in ("entry_point", "signature", "tests", "reference")
            }
            return make_problem(
                pid=str(data.get("id") or "user"),
                question=str(data.get("question", "")),
                tests=_str_list(d.get("tests"), "data.tests"),
                entry_point=d.get("entry_point"),
                reference=d.get("reference"),
                source=str(data.get("source", "user")),
                extra=extra,
            )
        if "canonical_solution" in data and "test" in data:
            return from_humaneval(data)
        if "test_list" in data:
            return from_mbpp(data)
        question = data.get("prompt", data.get("question"))
        if not isinstance(question, str):
            raise InvalidInput("missing field 'prompt' (the problem statement with a def line)")
        if "tests" not in data:
            raise InvalidInput("missing field 'tests' (a list of assert lines)")
        tests = data["tests"]
        tests = split_tests(tests) if isinstance(tests, str) else _str_list(tests, "tests")
        ref = data.get("reference")
        if ref is not None and not isinstance(ref, str):
            raise InvalidInput("field 'reference' must be a string")
        extra = {k: data[k] for k in ("level", "tier") if k in data}
        return make_problem(
            pid=str(data.get("id") or "user"),
            question=question,
            tests=tests,
            entry_point=data.get("entry_point"),
            reference=ref,
            source="user",
            extra=extra,
        )
    except ProblemRejected as exc:
        raise InvalidInput(exc.reason) from exc


def _str_list(v: Any, name: str) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise InvalidInput(f"field '{name}' must be a list of strings")
    return v


def from_humaneval(rec: Mapping[str, Any]) -> Problem:
    """A HumanEval record: asserts of ``def check(candidate)`` become the tests.

    A ``check`` that does more than assert (loops, helpers, imports) is user code: it runs once
    in the sandbox on the canonical solution, and the calls it makes become the tests
    (:mod:`soarkit_code.unroll`), since the harness compares values itself and cannot trust a
    check that runs beside the candidate.
    """
    try:
        module = ast.parse(rec["test"])
    except SyntaxError as exc:
        raise ProblemRejected("HumanEval test does not parse") from exc
    check = next(
        (n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None
    )
    if check is None:
        raise ProblemRejected("HumanEval test has no check(candidate)")
    tests = []
    for stmt in check.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring or a bare string
        if not isinstance(stmt, ast.Assert):
            return _from_humaneval_unrolled(rec)
        if not any(isinstance(n, ast.Name) and n.id == "candidate" for n in ast.walk(stmt.test)):
            continue  # `assert True, "debugging aid"` lines test nothing
        stmt.msg = None
        tests.append(ast.unparse(stmt))
    return _humaneval_problem(rec, tests, rec.get("entry_point"))


def _humaneval_problem(
    rec: Mapping[str, Any], tests: list[str], entry: Any, extra: dict[str, Any] | None = None
) -> Problem:
    return make_problem(
        pid=str(rec.get("task_id", "humaneval")).replace("/", "-"),
        question=rec["prompt"],
        tests=tests,
        entry_point=entry,
        reference=rec["prompt"] + rec["canonical_solution"],
        source="humaneval",
        extra=extra,
    )


def _from_humaneval_unrolled(rec: Mapping[str, Any]) -> Problem:
    from soarkit_code.unroll import unroll_check

    entry = rec.get("entry_point") or (SIGNATURE.search(rec["prompt"]) or [None, None])[1]
    if not isinstance(entry, str) or not re.fullmatch(r"[A-Za-z_]\w*", entry):
        raise ProblemRejected("HumanEval record without an entry point")
    tests, calls = unroll_check(rec, entry, MAX_TESTS)
    return _humaneval_problem(rec, tests, entry, {"check": "unrolled", "check_calls": calls})


def from_mbpp(rec: Mapping[str, Any]) -> Problem:
    """An MBPP record (``text``, ``code``, ``test_list``); the first test is shown as example."""
    if str(rec.get("test_setup_code", "") or "").strip():
        raise ProblemRejected("MBPP test_setup_code is not supported")
    tests = [t for t in rec["test_list"] if isinstance(t, str)]
    if not tests:
        raise ProblemRejected("MBPP record without tests")
    try:
        call = next(
            n
            for n in ast.walk(ast.parse(tests[0]))
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name)
            and n.func.id not in ("set", "sorted", "abs", "len")
        )
    except (StopIteration, SyntaxError) as exc:
        raise ProblemRejected("cannot find the function name in MBPP tests") from exc
    entry = call.func.id  # type: ignore[union-attr]
    code = str(rec.get("code", "")).replace("\r\n", "\n")
    sig = next(
        (m.group(0) for m in SIGNATURE.finditer(code) if m.group(1) == entry), f"def {entry}(...):"
    )
    question = f"{rec.get('text', '').strip()}\n{sig.strip()}\n# Example: {tests[0].strip()}"
    return make_problem(
        pid=f"mbpp-{rec.get('task_id', 'x')}",
        question=question,
        tests=tests,
        entry_point=entry,
        reference=code or None,
        source="mbpp",
    )


def load_jsonl(path: str | Path) -> tuple[list[Problem], list[str]]:
    """Problems from a HumanEval/MBPP/native JSONL file, and one line per record skipped."""
    problems: list[Problem] = []
    skipped: list[str] = []
    for i, line in enumerate(_lines(Path(path))):
        try:
            problems.append(problem_from_mapping(json.loads(line)))
        except (InvalidInput, ValueError, KeyError, TypeError) as exc:
            skipped.append(f"line {i + 1}: {exc}")
    return problems, skipped


def _lines(path: Path) -> Iterable[str]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield line
