"""HumanEval-format files whose check functions loop, import, assign or call prompt helpers.

The records are written here in HumanEval's shape (no network for the real file); each kind of
check the real benchmark uses beyond plain asserts appears at least once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from soarkit_code import CodeDomain
from soarkit_code.formats import load_jsonl
from soarkit_code.unroll import assert_line, literal

from soar_kit.errors import ProblemRejected

ROT_PROMPT = '''def rot(s: str, n: int) -> str:
    """Shift every lowercase letter of s forward by n places."""
    return "".join(chr((ord(c) - 97 + n) % 26 + 97) for c in s)


def unrot(s: str, n: int) -> str:
    """The inverse of rot: unrot(rot(s, n), n) == s."""
'''

RECORDS = [
    {  # plain asserts: the harness's own path
        "task_id": "Mine/0",
        "entry_point": "twice",
        "prompt": 'def twice(x):\n    """Return 2 x."""\n',
        "canonical_solution": "    return 2 * x\n",
        "test": "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(-1) == -2\n",
    },
    {  # imports, a seeded loop and a helper of the prompt
        "task_id": "Mine/1",
        "entry_point": "unrot",
        "prompt": ROT_PROMPT,
        "canonical_solution": '    return "".join(chr((ord(c) - 97 - n) % 26 + 97) for c in s)\n',
        "test": "import random\n\nMETADATA = {}\n\ndef check(candidate):\n"
        "    rng = random.Random(3)\n"
        "    for _ in range(80):\n"
        "        word = ''.join(rng.choice('abcxyz') for _ in range(rng.randint(1, 9)))\n"
        "        n = rng.randint(0, 30)\n"
        "        assert candidate(rot(word, n), n) == word\n",
    },
    {  # assignments and a computed expectation
        "task_id": "Mine/2",
        "entry_point": "odd_square_sum",
        "prompt": 'def odd_square_sum(xs):\n    """Sum of squares of the positive odd xs."""\n',
        "canonical_solution": "    return sum(x * x for x in xs if x > 0 and x % 2 == 1)\n",
        "test": "def check(candidate):\n    assert candidate([]) == 0\n"
        "    xs = list(range(-9, 10, 2))\n"
        "    expected = sum(x * x for x in xs if x > 0)\n"
        "    assert candidate(xs) == expected, 'the whole range'\n",
    },
    {  # a float condition inside a loop
        "task_id": "Mine/3",
        "entry_point": "mean",
        "prompt": 'def mean(xs: list) -> float:\n    """Arithmetic mean."""\n',
        "canonical_solution": "    return sum(xs) / len(xs)\n",
        "test": "import math\n\ndef check(candidate):\n"
        "    for k in range(1, 6):\n"
        "        assert math.fabs(candidate([1.0] * k + [2.0]) - (k + 2) / (k + 1)) < 1e-9\n",
    },
    {  # keyword arguments and a tuple result
        "task_id": "Mine/4",
        "entry_point": "span",
        "prompt": 'def span(xs, pad=0):\n    """(min - pad, max + pad)."""\n',
        "canonical_solution": "    return (min(xs) - pad, max(xs) + pad)\n",
        "test": "def check(candidate):\n    for p in (0, 2):\n"
        "        assert candidate([3, 1, 2], pad=p) == (1 - p, 3 + p)\n",
    },
]


@pytest.fixture(scope="module")
def domain() -> CodeDomain:
    return CodeDomain()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, list[str], Path]:
    path = tmp_path_factory.mktemp("he") / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    problems, skipped = load_jsonl(path)
    return problems, skipped, path


def test_every_record_loads(loaded) -> None:
    problems, skipped, _ = loaded
    assert skipped == []
    assert [p.id for p in problems] == [f"Mine-{i}" for i in range(len(RECORDS))]
    unrolled = [p for p in problems if p.data.get("check") == "unrolled"]
    assert [p.id for p in unrolled] == ["Mine-1", "Mine-2", "Mine-3", "Mine-4"]
    by_id = {p.id: p for p in problems}
    assert by_id["Mine-1"].data["check_calls"] == 80
    assert len(by_id["Mine-1"].data["tests"]) <= 64  # MAX_TESTS
    assert by_id["Mine-2"].data["tests"] == [
        "assert odd_square_sum([]) == 0",
        f"assert odd_square_sum({list(range(-9, 10, 2))}) == 165",
    ]
    assert by_id["Mine-4"].data["tests"][1] == "assert span([3, 1, 2], pad=2) == (-1, 5)"


def test_loading_is_reproducible(loaded) -> None:
    problems, _, path = loaded
    again, _ = load_jsonl(path)
    assert [p.data["tests"] for p in again] == [p.data["tests"] for p in problems]


def test_canonical_solutions_pass_and_wrong_ones_fail(domain: CodeDomain, loaded) -> None:
    problems, _, _ = loaded
    for p in problems:
        assert domain.verify(p, p.data["reference"]).correct, p.id
    by_id = {p.id: p for p in problems}
    wrong_unrot = ROT_PROMPT + "    return s\n"
    assert not domain.verify(by_id["Mine-1"], wrong_unrot).correct
    off_by_a_bit = "def mean(xs):\n    return sum(xs) / len(xs) + 1e-3\n"
    assert not domain.verify(by_id["Mine-3"], off_by_a_bit).correct
    # the harness still judges values: an always-equal object forges nothing
    forged = "def span(xs, pad=0):\n    class A:\n        def __eq__(s, o): return True\n    return A()\n"
    assert not domain.verify(by_id["Mine-4"], forged).correct


def test_a_check_that_fails_its_own_solution_is_refused(tmp_path: Path) -> None:
    bad = dict(RECORDS[2], task_id="Mine/9", canonical_solution="    return 1\n")
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(bad) + "\n")
    problems, skipped = load_jsonl(path)
    assert problems == [] and "canonical solution" in skipped[0]


def test_literals_compile_in_the_harness() -> None:
    line = assert_line("f", [[1.5, float("inf")], {"a": (1,)}, {2, 1}, None], {}, float("nan"))
    assert "float('inf')" in line and "set([1, 2])" in line
    from soarkit_code.harness import compile_tests

    compile_tests([line], "f")
    with pytest.raises(ProblemRejected, match="object"):
        literal(object())
