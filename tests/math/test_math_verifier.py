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


# -- answer forms of Math-Verify's suite (issue 14), one class at a time, with our own examples --
SUITE_CLASSES_EQUAL = [
    # decimal commas and thousands groups: a comma with two or more digits after it and no
    # thousands grouping is a decimal comma; ",\!" inside a number is a thousands separator
    ("2500.75", "2500,75"),
    ("3,45", "3.45"),
    ("0.125", "0,125"),
    ("12345", "12,\\! 345"),
    ("4567000", "4,\\!567,\\!000"),
    ("0, 5", "0,5"),  # one digit after the comma: a list
    # assignments and named quantities: the value is the answer
    ("(a,b)=(4,1)", "(4,1)"),
    ("(u,v,w)=(1,0,2)", "(1, 0, 2)"),
    ("h_{1}:h_{2}=3:5", "3:5"),
    ("|PQ|=7", "7"),
    ("g(t)=2", "2"),
    ("\\frac{AB}{CD}=\\frac{2}{3}", "\\frac{2}{3}"),
    ("PQ=3, RS=8", "3, 8"),
    ("b=2, -5, 7", "7, 2, -5"),
    ("q = 2 \\text{ and } q = -3", "-3, 2"),  # several assignments to one name
    ("H(n) = 0 \\text{ and } H(n) = 4", "H(m)=0 or H(m)=4"),
    # equation chains: first name = last member; \approx ends the exact part
    ("y = 9", "y = 4+5 = 9"),
    ("w = 2+2 = 4", "w = 1+3 = 4"),
    ("4", "1 = t = 4"),
    ("\\frac{2}{7}", "r = \\frac{2}{7} \\approx 0.29"),
    ("13", "m \\approx 13"),
    # lists written with words and semicolons
    ("3, 8, 12", "3, 8, \\text{ and } 12"),
    ("5, 9", "9 or 5"),
    ("(2,3), (3,2)", "(3,2)or(2,3)"),
    ("-4, -1, 6", "-4;-1;6"),
    ("(1,2,0), (0,0,1)", "(0;0;1),(1;2;0)"),
    ("(s,t)=(1,2) \\text{ or } (s,t)=(2,1)", "(2,1), (1,2)"),
    ("a=1,b=2;a=3,b=4", "(1,2),(3,4)"),
    # an inequality gold accepts its solution set
    ("-3 \\le t \\le 4", "t \\in [-3,4]"),
    ("0 < g(x) < 2", "(0,2)"),
    ("2 \\le |w| \\le 5", "[-5,-2] \\cup [2,5]"),
    # a tuple gold and a set in canonical (ascending) order
    ("(2,5)", "\\{2,5\\}"),
    # conventions where Math-Verify is the reference
    ("\\log 1000", "3"),  # \log is base 10
    ("60^\\circ", "60"),  # a degree mark is dropped...
    ("60^\\circ", "\\frac{\\pi}{3}"),  # ...and a degree gold also accepts its radians
    ("35\\%", "35 pct"),
    ("\\frac{27}{7}", "3.857"),  # the rounding policy, on a decimal literal prediction
]

SUITE_CLASSES_DIFFERENT = [
    ("12345", "12, 345"),  # a comma and a space: two numbers
    ("4.5", "4,5"),  # one digit after the comma: the list {4, 5}
    ("2y + w = 3", "3"),  # an equation, not an assignment
    ("5 = 2a+b", "2a+b"),
    ("y = 9", "y = 4+5 = 10"),
    ("t \\in [-3,4]", "-3 \\le t \\le 4"),  # gold-first: a set gold wants a set
    ("(5,2)", "\\{2,5\\}"),  # a set has no order: it is not the pair (5, 2)
    ("10:00", "3:00"),  # undefined values (10/0) equal nothing
    ("\\log 8", "\\ln 8"),
    ("\\frac{\\pi}{3}", "60^\\circ"),  # gold-first: a predicted 60^\circ is the number 60
    ("60^\\circ", "\\frac{\\pi}{6}"),
    ("3.85", "\\frac{27}{7}"),  # an exact-form prediction is never rounded
    ("b=2, -5, 7", "2, -5"),
]


@pytest.mark.parametrize(("gold", "pred"), SUITE_CLASSES_EQUAL)
def test_suite_answer_forms_equal(verifier: Verifier, gold: str, pred: str) -> None:
    check = verifier.compare(gold, pred)
    assert check.equal, check


@pytest.mark.parametrize(("gold", "pred"), SUITE_CLASSES_DIFFERENT)
def test_suite_answer_forms_different(verifier: Verifier, gold: str, pred: str) -> None:
    check = verifier.compare(gold, pred)
    assert check.status == "different", check


@pytest.mark.parametrize(
    ("completion", "gold", "correct"),
    [
        ("so \\boxed{4} and \\boxed{9}", "4, 9", True),
        ("$\\boxed{(1,0)} \\quad\\text{and}\\quad \\boxed{(0,1)}$", "(0,1),(1,0)", True),
        ("\\boxed{2}, \\boxed{3}, \\boxed{7}", "\\{2, 3, 7\\}", True),
        ("\\boxed{4} \\text{ for part (a) and } \\boxed{9}", "4, 9", True),
        ("\\(u = \\boxed{x+1}\\) and \\(v = \\boxed{x-1}\\)", "u = x+1, v = x-1", True),
        ("\\boxed{4} or \\boxed{9}", "9", False),  # a hedge is a set of two answers
        ("so a = \\boxed{3}. Then we find b = \\boxed{5}", "5", True),  # not a separator
        ("\\boxed{2} which gives after more work \\boxed{6}", "2, 6", False),
    ],
)
def test_several_boxes_are_one_answer_only_across_a_separator(
    completion: str, gold: str, correct: bool
) -> None:
    from soarkit_math import MathDomain
    from soarkit_math.extract import answer_text

    from soar_kit.contracts.records import Problem

    domain = MathDomain().with_options({"timeout": PATIENT_S})
    problem = Problem(id="b", question="?", answer=gold, domain="math")
    assert domain.verify(problem, completion).correct is correct
    # a reference written as boxes reads the same way
    assert answer_text("\\boxed{1}\\boxed{2}") == "1, 2"
    assert answer_text("\\boxed{1} no no no \\boxed{2}") == "2"
