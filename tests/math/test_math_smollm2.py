"""#18's acceptance on a real pretrained model: one outer step of SOAR on SmolLM2-135M, math.

Through the shipped ``smollm2-cpu`` preset (chat template, plain format, opened turn, drawn
examples): ``soarkit hardset`` mines problems SmolLM2 fails, then ``soarkit run`` completes one
outer step in which every dataset is made of accepted teacher problems and the students' RL
rewards are not all one value. Sizes are the smallest that exercise every phase.
"""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import pytest
from _cli import OFFLINE_ONE_THREAD, run_soarkit

pytestmark = pytest.mark.slow

soarkit = partial(run_soarkit, env=OFFLINE_ONE_THREAD, timeout=1800)


def test_one_outer_step_on_smollm2_with_accepted_problems(tmp_path: Path) -> None:
    pytest.importorskip("gguf", reason="the smollm2 extra (gguf) is not installed")
    from soar_kit.components import find_model_source

    why = find_model_source("smollm2-135m").available()
    if why:
        pytest.skip(why)
    hard = tmp_path / "hard.jsonl"
    res = soarkit(
        "hardset", "--domain", "math", "--config", "smollm2-cpu", "--seed", "0",
        "--problem-set", "arithmetic-l2", "--size", "6", "--k", "2",
        "--set", "student.rl.sampling.max_new_tokens=32", "--out", str(hard),
        "--set", "domain.options.timeout=3600",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    run_dir = tmp_path / "run"
    sets = [
        "meta.g=2", "meta.n=2", "meta.r=1", "meta.qr_size=2", "student.rl.steps=2",
        "student.rl.batch_size=2", "student.rl.group_size=4",
        "student.rl.sampling.max_new_tokens=32", f"hardset.path={hard}",
        "domain.options.timeout=3600",
    ]  # fmt: skip
    res = soarkit(
        "run", "--domain", "math", "--config", "smollm2-cpu", "--steps", "1", "--seed", "0",
        "--run-dir", str(run_dir), *[a for s in sets for a in ("--set", s)],
    )  # fmt: skip
    assert res.returncode == 0, (res.stdout[-2000:], res.stderr[-2000:])
    assert "config: preset smollm2-cpu" in res.stdout
    (row,) = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert row["accepted"] == 4 and row["tried"] <= 4 * 16  # 2 datasets of 2 accepted problems
    assert all(math.isfinite(r) for r in row["rewards"]) and len(row["rewards"]) == 2
    train = [x for student in row["student_train_rewards"] for x in student]
    assert len(train) == 2 * 2 and all(math.isfinite(x) for x in train)
    # the students' RL saw a signal: some answer earned a reward (marked or right)
    assert max(train) > 0, row
    assert (run_dir / "summary.json").exists()
