"""The code domain's contract: formats, mini world, problem sets, conformance kit, CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from soarkit_code import CodeDomain
from soarkit_code.bundled import bundled_problems
from soarkit_code.mini import HARD_LEVEL, LEVELS, chain_expr

from soar_kit.errors import InvalidInput, ProblemRejected
from soar_kit.testing import assert_domain_conforms

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def domain() -> CodeDomain:
    return CodeDomain()


def test_conformance_kit_passes(domain: CodeDomain) -> None:
    assert_domain_conforms(domain)


def test_registered_through_entry_point() -> None:
    from soar_kit.plugins import PluginManager

    manager = PluginManager(only=["code"])
    assert isinstance(manager.domain("code"), CodeDomain)
    assert not manager.errors


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("nothing", "missing <question>"),
        ("<question>def f(x):</question>", "missing <answer>"),
        ("<question>Return 1.</question><answer>assert f() == 1</answer>", "no function signature"),
        ("<question>def f(x):</question><answer>x = 1</answer>", "assert"),
        ("<question>def f(x):</question><answer>assert f(1) ==</answer>", "parse"),
        ("<question>def f(x):</question><answer>assert 1 == 1</answer>", "never calls"),
        (
            "<question>def f(x):</question><answer>assert f(__import__('os')) == 1</answer>",
            "unknown name",
        ),
        ("<question>def f(x):</question><answer>assert not f(1)</answer>", "trivial"),
        (
            "<question>def f(x):</question><answer>assert f(1) == 2</answer>"
            "<solution>def f(x): return 1</solution>",
            "reference solution fails",
        ),
        (
            "<question>def f(x):</question><answer>assert f(1) == 2</answer>"
            "<solution>import random\ndef f(x): return random.choice([2, 3])</solution>",
            "",
        ),
    ],
)
def test_malformed_teacher_outputs_are_rejected(domain: CodeDomain, text: str, reason: str) -> None:
    if "random" in text:
        # a flaky reference is caught either by failing or by disagreeing with itself; try a few
        # seeds of the sandboxed process until one of the two fires
        with pytest.raises(ProblemRejected):
            for _ in range(20):
                domain.parse_teacher_output(text, problem_id="t")
        return
    with pytest.raises(ProblemRejected) as info:
        domain.parse_teacher_output(text, problem_id="t")
    assert reason in info.value.reason


def test_teacher_output_with_reference_parses(domain: CodeDomain) -> None:
    p = domain.parse_teacher_output(
        "<question>Return the max.\ndef mx(a, b):</question>\n<answer>\nassert mx(1, 2) == 2\n"
        "assert mx(5, 3) == 5\n</answer>\n<solution>def mx(a, b):\n    return max(a, b)</solution>",
        problem_id="x",
    )
    assert p.data["entry_point"] == "mx" and len(p.data["tests"]) == 2
    assert "mx(a, b)" in domain.student_prompt(p)


def test_every_bundled_reference_passes_and_tiers_exist(domain: CodeDomain) -> None:
    problems = bundled_problems()
    assert {p.data["tier"] for p in problems} == {"easy", "medium", "hard"}
    assert len({p.id for p in problems}) == len(problems) >= 24
    for p in problems:
        v = domain.verify(p, p.data["reference"])
        assert v.correct, (p.id, v.reason)
        assert not domain.verify(p, f"def {p.data['entry_point']}(*a):\n    return None").correct


def test_mini_world_levels_lengths_and_solutions(domain: CodeDomain) -> None:
    world = domain.mini_world()
    assert world.levels == LEVELS and world.hard_level == HARD_LEVEL
    for level in range(1, LEVELS + 1):
        a = world.make_problem(level, random.Random(level))
        b = world.make_problem(level, random.Random(level))
        assert a == b  # deterministic in the rng state
        assert len(a.data["ops"]) == level
        assert len(a.question) + len(a.answer) < 150
        sol = world.solution(a)
        assert len(sol) < 60
        assert domain.verify(a, sol).correct
    assert len(domain.teacher_prompt(random.Random(0))) < 100
    assert len(domain.student_prompt(world.make_problem(1, random.Random(0)))) < 100


def test_mini_teacher_output_parses_at_every_level(domain: CodeDomain) -> None:
    from soarkit_code.mini import mini_teacher_output

    world = domain.mini_world()
    for level in range(1, LEVELS + 1):
        p = world.make_problem(level, random.Random(100 + level))
        text = mini_teacher_output(p)
        assert len(text) < 150
        parsed = domain.parse_teacher_output(text, problem_id=p.id)
        assert parsed.question == p.question and parsed.answer == p.answer


def test_chain_expression_parenthesises_only_where_needed() -> None:
    assert chain_expr([("+", 1), ("*", 3), ("-", 2)]) == "(x+1)*3-2"
    assert chain_expr([("*", 2), ("*", 3)]) == "x*2*3"
    assert chain_expr([("-", 1), ("-", 2), ("*", 2)]) == "(x-1-2)*2"


def test_mini_world_teacher_text_parses_in_soar_mini_corpus_format(domain: CodeDomain) -> None:
    from soar_kit.mini.corpus import find_teacher_format

    template, form = find_teacher_format(domain, domain.mini_world(), random.Random(0))
    assert form == "answer" and "<question>" in template


def test_student_code_extraction(domain: CodeDomain) -> None:
    p = domain.problem_from_json({"prompt": "def inc(x):", "tests": ["assert inc(1) == 2"]})
    for text in (
        "Sure.\n```python\ndef inc(x):\n    return x + 1\n```\nDone.",
        "```\nprint('scratch')\n```\n```py\ndef inc(x):\n    return x + 1\n```",
        "Here is my solution:\ndef inc(x):\n    return x + 1",
        "```python\ndef inc(x):\n    return x + 1",  # unterminated fence
    ):
        assert domain.verify(p, text).correct, text


def test_verify_many_runs_each_distinct_completion_once(domain: CodeDomain) -> None:
    p = domain.problem_from_json({"prompt": "def sq(x):", "tests": ["assert sq(3) == 9"]})
    right, wrong = "def sq(x):\n    return x * x", "def sq(x):\n    return x + x"
    before = domain.pool.runs
    verdicts = domain.verify_many(p, [right, wrong, right, right, wrong])
    assert [v.correct for v in verdicts] == [True, False, True, True, False]
    assert domain.pool.runs - before == 2
    domain.verify(p, right)  # cached: a fully reported outcome is not run again
    assert domain.pool.runs - before == 2
    timeout = "def sq(x):\n    while True:\n        pass"
    fast = domain.with_options({"wall_s": 0.5, "cpu_s": 1})
    start = fast.pool.runs
    fast.verify(p, timeout)
    fast.verify(p, timeout)  # a time-out may be load: never cached
    assert fast.pool.runs - start == 2


def test_problem_json_formats(domain: CodeDomain) -> None:
    native = {"prompt": "Return x+1.\ndef inc(x):", "tests": ["assert inc(1) == 2"]}
    p = domain.problem_from_json(native)
    assert p.data["entry_point"] == "inc"
    assert domain.verify(p, "def inc(x): return x + 1").correct
    again = domain.problem_from_json(json.loads(p.model_dump_json()))
    assert again == p
    with pytest.raises(InvalidInput, match="tests"):
        domain.problem_from_json({"prompt": "def f(x):"})
    with pytest.raises(InvalidInput, match="prompt"):
        domain.problem_from_json({"tests": ["assert f(1) == 1"]})


def test_humaneval_and_mbpp_records(domain: CodeDomain, tmp_path: Path) -> None:
    he = {
        "task_id": "HumanEval/0",
        "entry_point": "add",
        "prompt": 'def add(a, b):\n    """Add."""\n',
        "canonical_solution": "    return a + b\n",
        "test": "METADATA = {}\n\ndef check(candidate):\n    assert candidate(1, 2) == 3\n"
        "    assert True, 'debugging aid'\n"
        "    assert candidate(0, 0) == 0\n",
    }
    mbpp = {
        "task_id": 7,
        "text": "Write a function to square n.",
        "code": "def sq(n):\r\n  return n * n",
        "test_list": ["assert sq(3) == 9", "assert sq(0) == 0"],
        "test_setup_code": "",
    }
    loopy = dict(
        he,
        task_id="HumanEval/1",
        test="def check(candidate):\n    for i in range(3):\n        assert candidate(i, 0) == i\n",
    )
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (he, mbpp, loopy)) + "\n")
    from soarkit_code.formats import load_jsonl

    problems, skipped = load_jsonl(path)
    # the loop in a user's check runs in the sandbox at load (soarkit_code.unroll)
    assert [p.id for p in problems] == ["HumanEval-0", "mbpp-7", "HumanEval-1"]
    assert skipped == []
    assert problems[2].data["tests"] == [f"assert add({i}, 0) == {i}" for i in range(3)]
    for p in problems:
        assert domain.verify(p, p.data["reference"]).correct
    d2 = domain.with_options({"problems_file": str(path)})
    assert len(d2.load_problem_set("file", seed=0)) == 3


def test_unknown_option_is_named(domain: CodeDomain) -> None:
    with pytest.raises(InvalidInput, match="bogus"):
        domain.with_options({"bogus": 1})
    assert domain.with_options({"wall_s": "2.5"}).limits.wall_s == 2.5


def test_cli_verify_runs_one_candidate(tmp_path: Path) -> None:
    prob = tmp_path / "P.json"
    prob.write_text(
        json.dumps(
            {
                "prompt": "Return x*2.\ndef dbl(x):",
                "tests": ["assert dbl(2) == 4", "assert dbl(0) == 0"],
            }
        )
    )
    good = tmp_path / "S.py"
    good.write_text("def dbl(x):\n    return x * 2\n")
    bad = tmp_path / "B.py"
    bad.write_text("import os\ndef dbl(x):\n    os._exit(0)\n")
    cli = [
        str(Path(sys.executable).with_name("soarkit")),
        "verify",
        "--domain",
        "code",
        "--problem",
        str(prob),
        "--json",
        "--answer-file",
    ]
    for path, expect in ((good, True), (bad, False)):
        out = subprocess.run(
            [*cli, str(path)], capture_output=True, text=True, timeout=120, cwd=ROOT
        )
        assert out.returncode == 0, out.stderr
        verdict = json.loads(out.stdout.strip().splitlines()[-1])
        assert verdict["correct"] is expect
