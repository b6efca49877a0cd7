"""`soarkit bench soar-mini --quick`: the comparison's machinery end to end, as CI runs it.

Checks the machinery, not the science: every method is scored on the same hard set, the
result files exist, the paired comparison is reported, and a second invocation resumes from
the saved seeds instead of redoing them. In the default suite (~1.5 min on 2 cores). The full comparison and its reading are in docs/results.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def bench(out: Path, *sets: str, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    extra = [arg for s in sets for arg in ("--set", s)]
    return subprocess.run(
        [
            sys.executable,
            *("-m", "soar_kit", "bench", "soar-mini", "--quick", "--out", str(out)),
            *args,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_quick_bench_scores_every_method_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    # computed answers for teacher questions: the override reaches every run and the result;
    # two seeds in two processes, as the full bench runs them
    first = bench(out, "domain.options.answers=solver", args=("--seeds", "2", "--jobs", "2"))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert (out / "result.png").stat().st_size > 1000
    assert (out / "hardset.jsonl").exists()
    assert "| grounded-T |" in (out / "result.md").read_text()
    for method in ("base", "hard-only", "base-T", "intrinsic-T", "grounded-T"):
        scores = result["methods"][method]
        assert scores is not None, method
        assert 0.0 <= scores["pass@1"]["mean"] <= 1.0
        assert scores["pass@1"]["mean"] <= scores["pass@8"]["mean"]  # pass@k grows with k
    assert set(result["diversity"]) == {"base-T", "intrinsic-T", "grounded-T"}
    # seed-paired differences with an exact p-value: 2 seeds give 4 sign patterns, p >= 1/2
    paired = result["paired"]["grounded-T - intrinsic-T"]
    assert paired["n"] == 2 and paired["k"] == "pass@8" and 0.5 <= paired["p"] <= 1.0
    assert "Seed-paired differences" in (out / "result.md").read_text()
    assert result["hard_test"] > 0 and result["size"]["seeds"] == 2
    assert [r["seed"] for r in result["per_seed"]] == [0, 1]
    for s in (0, 1):  # each worker process logged its SOAR runs and traced their rewards
        assert "SOAR" in (out / f"seed-{s}.log").read_text()
        trace = result["per_seed"][s]["grounded_rewards"]
        assert [row["step"] for row in trace] == [0, 1] and len(trace[0]["rewards"]) == 2
    assert result["overrides"] == ["domain.options.answers=solver"]
    assert "domain.options.answers=solver" in (out / "result.md").read_text()
    assert "soar-mini on math" in first.stdout  # the rich table

    # resumable: the finished seeds are read back, nothing is trained again (their result and
    # log files are left exactly as they were: a seed that ran again would rewrite both)
    def seed_files() -> dict[str, tuple[int, bytes]]:
        files = sorted(out.glob("seed-*.json")) + sorted(out.glob("seed-*.log"))
        return {f.name: (f.stat().st_mtime_ns, f.read_bytes()) for f in files}

    before = seed_files()
    again = bench(out, "domain.options.answers=solver", args=("--seeds", "2"))
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = json.loads((out / "result.json").read_text())
    assert resumed["methods"] == result["methods"]
    assert seed_files() == before
    # the reported time is the bench's total, not the few seconds of the resume
    # (a finished bench's resume loads no model, so its own share can round to 0.0)
    assert resumed["wall_seconds"] == pytest.approx(
        result["wall_seconds"] + resumed["this_invocation_seconds"], abs=0.11
    )
    # the folder holds one comparison: other overrides would mix two benches in one table
    other = bench(out, args=("--seeds", "2"))
    assert other.returncode != 0
    assert "overrides" in other.stderr and "bench.json" in other.stderr, other.stderr[-2000:]
    assert "Traceback" not in other.stderr
    assert json.loads((out / "result.json").read_text())["methods"] == result["methods"]


def test_a_bad_override_is_a_one_line_error_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    run = bench(out, "meta.no_such_field=1")
    assert run.returncode != 0
    assert "no_such_field" in run.stderr, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert not (out / "result.json").exists()
