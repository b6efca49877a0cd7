"""Acceptance on a real pretrained model: SmolLM2-135M (offline) on a reasoning-gym task.

``soarkit hardset`` mines a hard set of chain_sum at a high curriculum level, the file reads back
through ``datasets`` and ``soarkit verify`` judges answers on one of its problems; then one outer
step of ``soarkit run`` completes on that hard set. Sizes are the smallest that exercise every
phase: each SmolLM2 step is seconds of CPU.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from _cli import OFFLINE_ONE_THREAD, run_soarkit

pytestmark = pytest.mark.slow

TASK = "rg:chain_sum"

soarkit = partial(run_soarkit, env=OFFLINE_ONE_THREAD, timeout=1800)


@pytest.fixture(scope="module")
def hard_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rg") / "hard.jsonl"
    res = soarkit(
        "hardset", "--domain", TASK, "--model", "smollm2-135m", "--seed", "3",
        "--problem-set", "l8", "--size", "6", "--k", "2",
        "--set", "student.rl.sampling.max_new_tokens=24", "--out", str(out),
        "--set", "domain.options.timeout=3600",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert "are fail@2" in res.stdout
    return out


def test_hardset_mines_and_reads_back_through_datasets(hard_file: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    from soarkit_reasoning_gym import ReasoningGymDomain, RGOptions

    from soar_kit.hardset import HardSet

    domain = ReasoningGymDomain(RGOptions(task="chain_sum"), short=True)
    hard = HardSet.load(hard_file, domain)
    assert hard.k == 2 and hard.mined_from == 6 and len(hard.train) >= 1
    assert all(p.data["level"] == 8 for p in hard.train + hard.test)
    table = datasets.load_dataset(
        "json", data_files=str(hard_file), split="train", cache_dir=str(tmp_path / "c")
    )
    assert table.num_rows == len(hard.train) + len(hard.test)
    again = domain.load_problem_set(f"file:{hard_file}", seed=0)
    assert sorted(p.model_dump_json() for p in again) == sorted(
        p.model_dump_json() for p in hard.train + hard.test
    )


def test_verify_judges_a_hard_problem(hard_file: Path, tmp_path: Path) -> None:
    row = json.loads(hard_file.read_text().splitlines()[0])
    problem = {k: row[k] for k in ("id", "question", "answer", "domain", "data", "source")}
    f = tmp_path / "p.json"
    f.write_text(json.dumps(problem))
    for answer, correct in ((problem["answer"], True), (str(int(problem["answer"]) + 1), False)):
        res = soarkit(
            "verify", "--domain", TASK, "--problem", str(f), "--json", "--option", "timeout=3600",
            "--answer", f"<answer>{answer}</answer>",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["correct"] is correct


def test_one_outer_step_of_run_completes(hard_file: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    sets = [
        "meta.outer_steps=1", "meta.g=2", "meta.n=2", "meta.r=1", "meta.qr_size=2",
        "meta.qr_samples=0", "student.rl.steps=1", "student.rl.batch_size=2",
        "student.rl.group_size=2", "student.rl.sampling.max_new_tokens=24",
        "teacher.rl.steps=1", "teacher.rl.group_size=2",
        "teacher.rl.sampling.max_new_tokens=64", "teacher.max_resample_factor=32",
        f"hardset.path={hard_file}", "domain.options.timeout=3600",
    ]  # fmt: skip
    args = [a for s in sets for a in ("--set", s)]
    res = soarkit(
        "run", "--domain", TASK, "--model", "smollm2-135m", "--seed", "0",
        "--run-dir", str(run_dir), *args,
    )  # fmt: skip
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-2000:])
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0]
    assert (run_dir / "summary.json").exists()  # the final evaluation ran too
