"""Problem sets from files through ``datasets``: MATH dumps, column mappings, hard sets, PQ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

datasets = pytest.importorskip("datasets", reason="datasets is in the files/dev extras")

from soar_kit.contracts import problem_files  # noqa: E402
from soar_kit.contracts.records import Problem  # noqa: E402
from soar_kit.errors import InvalidInput  # noqa: E402
from soar_kit.hardset import HardSet, mine_hard_set  # noqa: E402
from soar_kit.plugins import get_manager  # noqa: E402
from soar_kit.runstore import write_jsonl  # noqa: E402

MATH_ROWS = [
    {
        "problem": f"What is ${i} + {i}$?",
        "solution": f"Adding, we get $\\boxed{{{2 * i}}}$.",
        "level": f"Level {1 + i % 5}",
        "type": "Prealgebra",
    }
    for i in range(1, 13)
] + [{"problem": "No answer here.", "solution": "none", "level": "Level 2", "type": "Algebra"}]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(problem_files.CACHE_ENV, str(tmp_path / "hf-cache"))


@pytest.fixture
def math():
    return get_manager().domain("math")


@pytest.fixture
def math_parquet(tmp_path: Path) -> Path:
    path = tmp_path / "math.parquet"
    datasets.Dataset.from_list(MATH_ROWS).to_parquet(str(path))
    return path


def test_a_math_parquet_dump_loads_out_of_the_box(math, math_parquet: Path) -> None:
    problems = math.load_problem_set(f"file:{math_parquet}", seed=0)
    assert len(problems) == 12  # the row without a boxed answer is skipped
    assert problems[2].answer == "6" and problems[2].data == {
        "level": "Level 4",
        "type": "Prealgebra",
    }
    assert len({p.id for p in problems}) == 12 and all(p.domain == "math" for p in problems)
    assert math.load_problem_set(f"file:{math_parquet}", seed=1, limit=4) == math.load_problem_set(
        f"file:{math_parquet}", seed=1, limit=4
    )
    # the math domain's own `files` option reads the same file the same way
    own = math.with_options({"files": {"mine": str(math_parquet)}})
    assert [p.answer for p in own.load_problem_set("mine", seed=0)] == [p.answer for p in problems]


def test_the_parquet_set_mines_a_hard_set_that_round_trips(math, math_parquet, tmp_path) -> None:
    from soar_kit.testing.tiny_models import tiny_policy

    candidates = math.load_problem_set(f"file:{math_parquet}", seed=0)
    policy = tiny_policy(seed=0)  # a random tiny model: fails every problem
    backend = get_manager().get("backend", "transformers")
    hard = mine_hard_set(math, policy, backend, candidates, k=2, max_new_tokens=4, seed=0)
    assert hard.mined_from == 12 and len(hard.train) + len(hard.test) == 12
    path = tmp_path / "hard.jsonl"
    hard.save(path)
    table = datasets.load_dataset("json", data_files=str(path), split="train")
    assert sorted(table["split"]) == ["test"] * len(hard.test) + ["train"] * len(hard.train)
    again = math.load_problem_set(f"file:{path}", seed=0)
    assert sorted(p.model_dump_json() for p in again) == sorted(
        p.model_dump_json() for p in hard.train + hard.test
    )
    assert HardSet.load(path, math).train == hard.train


def test_the_pq_export_round_trips(math, tmp_path: Path) -> None:
    pq = [
        Problem(id="s0-0", question="1+1?", answer="2", domain="math", data={"level": 1}),
        Problem(id="s0-1", question="2+5?", answer="7", domain="math", source="teacher"),
    ]
    rows = [{**p.model_dump(mode="json"), "step": 0, "reward": 0.5} for p in pq]
    path = tmp_path / "pq.jsonl"
    write_jsonl(path, rows)  # what a run writes
    assert math.load_problem_set(f"file:{path}", seed=0) == pq
    for suffix in ("parquet", "jsonl", "csv", "arrow"):
        out = problem_files.export_problems(pq, tmp_path / f"pq-export.{suffix}")
        assert math.load_problem_set(f"file:{out}", seed=0) == pq, suffix


def test_a_column_mapping_renames_to_question_answer_level_id(math, tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text(
        "uid,prompt,target,difficulty\na1,What is 3*3?,9,easy\na2,What is 2^5?,32,hard\n"
    )
    spec = f"file:{path}?question=prompt&answer=target&level=difficulty&id=uid"
    problems = math.load_problem_set(spec, seed=0)
    assert [(p.id, p.answer, p.data["level"]) for p in problems] == [
        ("a1", "9", "easy"),
        ("a2", "32", "hard"),
    ]
    table = problem_files.FileSource.from_mapping(
        {"path": str(path), "question": "prompt", "answer": "target"}
    )
    assert [p.answer for p in problem_files.load_problems(math, table, seed=0)] == ["9", "32"]
    with pytest.raises(InvalidInput, match="no column 'nope'"):
        math.load_problem_set(f"file:{path}?question=nope", seed=0)
    with pytest.raises(InvalidInput, match=r"unknown key\(s\) topic"):
        problem_files.FileSource.parse(f"file:{path}?topic=prompt")


def test_the_hub_path_reads_a_local_dataset_folder(math, math_parquet: Path, tmp_path) -> None:
    """``hf:`` runs load_dataset(ID) for real; a local folder stands in for the hub (offline)."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    math_parquet.rename(repo / "data" / "test-00000.parquet")
    problems = math.load_problem_set(f"hf:{repo}?split=test", seed=0)
    assert len(problems) == 12


def test_other_domains_read_files_too(tmp_path: Path) -> None:
    code = get_manager().domain("code")
    rows = [
        {"prompt": "Return x plus one.\ndef inc(x):", "tests": ["assert inc(1) == 2"], "id": "i"}
    ]
    path = tmp_path / "code.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (problem,) = code.load_problem_set(f"file:{path}", seed=0)
    assert problem.id == "i" and code.verify(problem, "def inc(x):\n    return x + 1").correct


def test_bad_sources_are_one_line_errors(math, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not found"):
        math.load_problem_set(f"file:{tmp_path / 'missing.parquet'}", seed=0)
    odd = tmp_path / "x.xlsx"
    odd.write_text("x")
    with pytest.raises(InvalidInput, match="unknown file type"):
        math.load_problem_set(f"file:{odd}", seed=0)
    useless = tmp_path / "u.jsonl"
    useless.write_text(json.dumps({"text": "hello"}) + "\n")
    with pytest.raises(InvalidInput, match="no record has a problem and an answer"):
        math.load_problem_set(f"file:{useless}", seed=0)
