"""The verifier's equivalence rules, answer extraction, and MATH-format files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from soarkit_math import corpus
from soarkit_math.extract import answer_tag, final_answer, last_boxed, plain_final_answer
from soarkit_math.files import load_problems
from soarkit_math.normalize import read_number, strip_math
from soarkit_math.verifier import Verifier

from soar_kit.errors import InvalidInput

#: A budget no honest comparison overruns on any machine: these tests are about verdicts, and
#: a loaded machine must not turn "equal" into "timeout". (The budget has its own tests.)
PATIENT_S = 3600.0


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return Verifier(timeout=PATIENT_S)


EQUIVALENT = [
    # numbers: exact forms, decimals, percentages, thousands separators, mixed numbers
    ("\\frac{1}{2}", "0.5"),
    ("\\frac{1}{2}", "\\dfrac12"),
    ("-\\frac{3}{4}", "\\frac{3}{-4}"),
    ("1000", "1{,}000"),
    ("1000", "1,000"),
    ("16386.20", "\\$16,\\!386.20"),
    ("10000", "10,\\!000"),
    ("50\\%", "0.5"),
    ("50\\%", "50"),
    ("3\\frac{1}{2}", "3.5"),
    ("0.\\overline{3}", "\\frac{1}{3}"),
    ("1.5 \\times 10^{3}", "1500"),
    ("1000", "1e3"),
    ("\\frac{2}{3}", "0.667"),  # rounding policy: >= 3 significant digits, rounded right
    ("42", "{42}"),
    ("5\\text{ cm}^2", "5"),
    ("90^\\circ", "90"),
    ("\\$5", "5"),
    # expressions: symbolic, then numeric probing
    ("\\sqrt{2}", "sqrt(2)"),
    ("2\\sqrt{3}", "\\sqrt{12}"),
    ("12\\sqrt{2}", "12 \\sqrt 2"),
    ("\\pi", "3.14159"),
    ("x^2+2x+1", "(x+1)^2"),
    ("x^2+2x+1", "(x+1)**2"),
    ("\\frac{x+1}{x-1}", "1+\\frac{2}{x-1}"),
    ("\\sin^2 x + \\cos^2 x", "1"),
    ("\\frac{\\sqrt{3}}{2}", "\\sin(\\pi/3)"),
    ("e^{x}", "\\exp(x)"),
    ("\\log_2 8", "3"),
    # equations and relations
    ("x=3", "3"),
    ("3", "x=3"),
    ("y=2x+1", "2x - y + 1 = 0"),
    ("34x+45y-20z+100=0", "-34x-45y+20z-100=0"),
    ("x<3", "3>x"),
    ("1<x<3", "(1,3)"),
    # tuples, sets, intervals, matrices
    ("(1,2)", "\\left( 1, 2 \\right)"),
    ("1, 2", "2, 1"),
    ("\\{1, 2, 3\\}", "\\{3, 2, 1\\}"),
    ("[0, 1)", "[0,1)"),
    ("(-\\infty, 3]", "(-\\infty,3]"),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{bmatrix} 1 \\\\ 2 \\end{bmatrix}"),
    ("\\frac{3 \\pm \\sqrt{5}}{2}", "\\frac{3+\\sqrt5}{2}, \\frac{3-\\sqrt5}{2}"),
    # choices and words
    ("5", "five"),
    ("\\text{(A)}", "A"),
    ("no solution", "No Solution"),
]

DIFFERENT = [
    ("\\frac{1}{2}", "2"),
    ("\\frac{2}{3}", "0.67"),  # only 2 significant digits
    ("\\frac{2}{3}", "0.666"),  # truncated, not rounded
    ("3", "3.0000001"),
    ("3.6 \\times 10^{7}", "36000001"),
    ("650713", "650713.5"),
    ("10", "10.5"),
    ("x^2-1", "(x-1)^2"),
    ("y=2x+1", "y=2x+2"),
    ("x \\le 3", "x < 3"),
    ("[0, 1)", "(0,1]"),
    ("(1,2)", "(2,1)"),
    ("1, 2", "1"),
    ("(B)", "(C)"),
    (
        "\\begin{pmatrix} 0 & 2 \\\\ 9 & 2 \\end{pmatrix}",
        "\\begin{pmatrix} 0 & 9 \\\\ 2 & 2 \\end{pmatrix}",
    ),
    ("\\frac{1}{3}", "0.3"),
    ("-\\frac{3}{4}", "0.75"),
    ("\\frac{3 \\pm \\sqrt{5}}{2}", "\\frac{3+\\sqrt5}{2}"),  # one root of two
    ("4", "\\pm 4"),
    ("5", "six"),
]


@pytest.mark.parametrize(("gold", "pred"), EQUIVALENT)
def test_equivalent(verifier: Verifier, gold: str, pred: str) -> None:
    check = verifier.compare(gold, pred)
    assert check.equal, check


@pytest.mark.parametrize(("gold", "pred"), DIFFERENT)
def test_different(verifier: Verifier, gold: str, pred: str) -> None:
    check = verifier.compare(gold, pred)
    assert not check.equal, check


def test_gold_first_assignment_is_asymmetric(verifier: Verifier) -> None:
    """A relation as gold needs a relation; a value as gold accepts ``x = value``."""
    assert verifier.compare("5", "x = 5").equal
    assert not verifier.compare("x > 2", "2").equal


def test_unparseable_is_invalid_not_an_exception(verifier: Verifier) -> None:
    check = verifier.compare("1", "\\frac{1}{")
    assert check.status == "invalid"


def test_last_boxed_nested_and_fallbacks() -> None:
    text = "first \\boxed{1} then \\boxed{\\frac{a}{\\sqrt{b}}} end"
    box = last_boxed(text)
    assert box is not None and box.content == "\\frac{a}{\\sqrt{b}}"
    assert text[box.start : box.end] == "\\boxed{\\frac{a}{\\sqrt{b}}}"
    assert last_boxed("\\boxed{\\{1, 2\\}}").content == "\\{1, 2\\}"  # type: ignore[union-attr]
    assert last_boxed("ok \\boxed{7} then truncated \\boxed{8").content == "7"  # type: ignore[union-attr]
    assert last_boxed("\\boxed 5 apples").content == "5"  # type: ignore[union-attr]
    assert last_boxed("\\fbox{3}").content == "3"  # type: ignore[union-attr]
    assert last_boxed("no box") is None
    assert answer_tag("<answer>a</answer> <answer>\\boxed{12}</answer>") == "12"
    assert plain_final_answer("so...\nThe answer is $-4$.") == "-4"
    assert final_answer("Final answer: 9") == ("9", "plain")
    assert final_answer("<answer>3</answer> \\boxed{4}") == ("4", "boxed")


def test_strip_and_read_number() -> None:
    assert strip_math("$\\left( 3 \\right)$.") == "( 3 )"
    assert strip_math("\\text{5 cm}") == "5"
    assert read_number("-\\frac{6}{8}").value == -0.75  # type: ignore[union-attr]
    assert read_number("12.50").decimals == 2  # type: ignore[union-attr]
    assert read_number("1e999999") is None  # exponent too large: not read, never built
    assert read_number("x") is None


def test_math_format_files(tmp_path: Path) -> None:
    records = [
        {"problem": "1+1?", "solution": "We get $\\boxed{2}$.", "level": "Level 1"},
        {"problem": "2+2?", "solution": "no box here", "answer": "4"},
        {"problem": "bad", "solution": "nothing"},  # skipped: no reference
        {"question": "3+3?", "final_answer": ["6"]},  # OlympiadBench style
    ]
    jsonl = tmp_path / "set.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    problems = load_problems(jsonl, seed=0)
    assert [p.answer for p in problems] == ["2", "4", "6"]
    assert problems[0].data == {"level": "Level 1"}
    assert load_problems(jsonl, seed=1, limit=2) == load_problems(jsonl, seed=1, limit=2)

    as_json = tmp_path / "set.json"
    as_json.write_text(json.dumps(records))
    assert [p.answer for p in load_problems(as_json, seed=0)] == ["2", "4", "6"]

    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    table = pa.Table.from_pylist(
        [{k: r.get(k) for k in ("problem", "solution")} for r in records[:2]]
    )
    pq.write_table(table, tmp_path / "set.parquet")
    assert [p.answer for p in load_problems(tmp_path / "set.parquet", seed=0)] == ["2"]

    with pytest.raises(InvalidInput, match="not found"):
        load_problems(tmp_path / "missing.jsonl", seed=0)
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"problem": "x", "solution": "y"}) + "\n")
    with pytest.raises(InvalidInput, match="no record"):
        load_problems(empty, seed=0)


def test_file_problem_sets_through_the_domain(tmp_path: Path) -> None:
    from soarkit_math import MathDomain

    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"problem": "1+1?", "solution": "\\boxed{2}"}) + "\n")
    domain = MathDomain().with_options({"files": {"mine": str(path)}})
    assert domain.load_problem_set("mine", seed=0)[0].answer == "2"
    assert MathDomain().load_problem_set(f"file:{path}", seed=0)[0].answer == "2"


def test_agreement_corpus_is_big_balanced_and_reproducible() -> None:
    pairs = corpus.build()
    assert len(pairs) >= 1000
    share = sum(p.equivalent for p in pairs) / len(pairs)
    assert 0.4 < share < 0.6
    assert pairs == corpus.build()
    assert all(last_boxed(p.prediction) is not None for p in pairs)
