"""``soarkit bench run``: the comparison's settings for any model, and what a result folder
refuses to mix. (The whole bench runs in tests/loop/test_bench_quick.py.)"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from soar_kit.commands.bench import BenchSize, _check_manifest, _config, size_with
from soar_kit.errors import ConfigError


def test_size_items_replace_bench_sizes_and_name_bad_keys() -> None:
    size = size_with(BenchSize(), ["inner_steps=4", "teacher_lr=config", "schedule=cosine"])
    assert (size.inner_steps, size.teacher_lr, size.schedule) == (4, None, "cosine")
    assert size_with(BenchSize(), ["teacher_lr=3e-5"]).teacher_lr == 3e-5
    with pytest.raises(ConfigError, match=r"'innner_steps=4'.*one of seeds"):
        size_with(BenchSize(), ["innner_steps=4"])
    with pytest.raises(ConfigError, match="--size g: not a number"):
        size_with(BenchSize(), ["g=four"])


def test_a_preset_supplies_model_and_lr_and_the_bench_its_sizes() -> None:
    size = replace(BenchSize.quick(), teacher_lr=None)
    c = _config(
        "math", size, 3, ["meta.n=5"], Path("smollm2-cpu"), **{"meta.reward": "learnability"}
    )
    assert (c.model.name, c.teacher.rl.lr, c.student.rl.lr) == ("smollm2-135m", 1e-5, 1e-5)
    assert c.domain.options["format"] == "plain"  # the preset's prompts
    assert (c.meta.g, c.meta.outer_steps, c.student.rl.steps) == (size.g, size.outer_steps, 2)
    assert (c.meta.n, c.seed, c.meta.reward) == (5, 3, "learnability")  # --set wins
    # soar-mini's bench keeps its own teacher lr
    assert _config("math", BenchSize.quick(), 0).teacher.rl.lr == BenchSize().teacher_lr


def test_a_result_folder_refuses_another_config(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text("[student.rl]\nlr = 1e-5\n")
    out = tmp_path / "bench"
    out.mkdir()
    size = BenchSize.quick()
    assert _check_manifest(out, "math", size, [], cfg) == 0.0
    assert _check_manifest(out, "math", replace(size, seeds=3), [], cfg) == 0.0  # more seeds
    cfg.write_text("[student.rl]\nlr = 2e-5\n")  # the same name, other content
    with pytest.raises(ConfigError, match="holds a bench with other config"):
        _check_manifest(out, "math", size, [], cfg)
    with pytest.raises(ConfigError, match="holds a bench with other config"):
        _check_manifest(out, "math", size, [])  # no config at all is another bench too


def test_bench_run_rejects_a_bad_size_in_one_line(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "soar_kit", "bench", "run", "--quick", "--out", str(tmp_path),
         "--size", "nope=1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode != 0
    assert "--size 'nope=1'" in res.stderr and "Traceback" not in res.stderr
    assert not any(tmp_path.iterdir())  # nothing written
