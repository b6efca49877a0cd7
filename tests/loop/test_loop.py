"""The SOAR loop end to end on the embedded soar-mini model: a short run, kill/resume, bad input.

These use the real soar-mini build (cached under SOARKIT_CACHE / ~/.cache/soar-kit, shared with
the rest of the suite), real RL training and the real domain verifiers, at a tiny size.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _cli import run_soarkit

SMALL = [
    "meta.outer_steps=2",
    "meta.g=2",
    "meta.n=4",
    "meta.r=2",
    "meta.qr_size=8",
    "meta.qr_samples=8",
    "meta.tau=-1",  # promote whenever possible, so promotion and PQ are exercised
    "student.rl.steps=2",
    "student.rl.batch_size=4",
    "student.rl.group_size=4",
    "hardset.size=24",
    "hardset.k=8",
]
VOLATILE = {"seconds", "timings"}

soarkit = run_soarkit


def run_args(domain: str, run_dir: Path, *extra: str) -> list[str]:
    sets = [a for s in SMALL for a in ("--set", s)]
    return ["run", "--domain", domain, "--seed", "7", "--run-dir", str(run_dir), *sets, *extra]


def stable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def saved_tiny_model(model_dir: Path, *, seed: int) -> Path:
    """A random tiny Llama saved as a model folder (``--model DIR``): fails every problem."""
    from soar_kit.testing.tiny_models import tiny_policy

    policy = tiny_policy(seed=seed)
    policy.model.save_pretrained(model_dir)
    policy.tokenizer.save_pretrained(model_dir)
    return model_dir


@pytest.fixture(scope="module")
def math_run(tmp_path_factory) -> Path:
    """One uninterrupted short math run, shared by the tests below."""
    run_dir = tmp_path_factory.mktemp("math") / "run"
    out = soarkit(*run_args("math", run_dir))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # the first line says where the settings come from
    assert out.stdout.lstrip().startswith("config: built-in defaults (sized for soar-mini")
    return run_dir


@pytest.mark.parametrize("domain", ["math", pytest.param("code", marks=pytest.mark.slow)])
def test_short_full_loop(domain, tmp_path, request):
    if domain == "math":
        run_dir = request.getfixturevalue("math_run")
    else:
        run_dir = tmp_path / "run"
        out = soarkit(*run_args(domain, run_dir))
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = metrics(run_dir)
    assert [r["step"] for r in rows] == [0, 1]
    for r in rows:
        assert len(r["rewards"]) == 2
        assert r["accepted"] == 8 and r["tried"] >= 8
        assert r["diversity"] > 0
        if domain == "math":
            # one posed summary per dataset, next to its reward; together they are the step's
            assert len(r["dataset_posed"]) == 2
            pooled: dict[str, int] = {}
            for p in r["dataset_posed"]:
                assert sum(p["levels_posed"].values()) == 4
                for lv, c in p["levels_posed"].items():
                    pooled[lv] = pooled.get(lv, 0) + c
            assert pooled == r["levels_posed"]
    state = json.loads((run_dir / "state.json").read_text())
    assert state["step"] == 2
    assert (run_dir / "checkpoints" / state["teacher"] / "optimizer.pt").exists()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["base"]) == {"pass@1", "pass@4", "pass@8", "pass@16", "pass@32"}
    assert (run_dir / "report" / "progress.png").stat().st_size > 10_000
    assert (run_dir / "config.toml").read_text().count("outer_steps = 2") == 1
    if summary["promotions"]:
        pq = [json.loads(x) for x in (run_dir / "pq.jsonl").read_text().splitlines()]
        assert len(pq) == 4 * summary["promotions"]
        assert state["baseline"] and (run_dir / "checkpoints" / state["baseline"]).exists()
    # the run ends by saying what happened, in words, also in its report
    assert f"{summary['hard_test']} held-out hard problems" in summary["outcome"]
    assert summary["outcome"] in (run_dir / "report" / "summary.md").read_text()


def test_the_outcome_in_words_names_promotions_and_the_lift() -> None:
    from soar_kit.loop import outcome_text
    from soar_kit.runstore import RunState

    summary = {"hard_test": 31, "base": {"pass@1": 0.0, "pass@32": 0.032}}
    none = outcome_text({**summary, "promoted": summary["base"]}, RunState(), 0.01)
    assert none.startswith("No student was promoted") and "tau=0.01" in none
    assert "pass@32 is 0.032 against the base's 0.032 (+0.000)" in none
    state = RunState(promotions=[{"step": 1, "dataset": 0}, {"step": 4, "dataset": 2}])
    lifted = {**summary, "promoted": {"pass@1": 0.1, "pass@32": 0.5}}
    text = outcome_text(lifted, state, 0.01)
    assert text.startswith("2 students were promoted (outer step 2, 5).")
    assert "pass@32 is 0.500 against the base's 0.032 (+0.468)" in text


def test_eval_compares_methods_on_the_hard_test_part(math_run):
    out = soarkit(
        "eval",
        str(math_run),
        "--seeds",
        "2",
        "--samples",
        "4",
        "--train-steps",
        "1",
        "--method",
        "base",
        "--method",
        "hard-only",
        "--method",
        "ps",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((math_run / "eval.json").read_text())
    base = result["results"]["base"]["pass@1"]
    assert len(base["runs"]) == 2 and 0.0 <= base["mean"] <= 1.0
    assert set(result["results"]["hard-only"]) == {"pass@1", "pass@4"}
    promoted = json.loads((math_run / "state.json").read_text()).get("baseline")
    assert (result["results"]["ps"] is None) == (promoted is None)


def test_teacher_learning_benchmark_reads_a_real_run(math_run, tmp_path):
    """benchmarks/teacher_learning.py's analysis on a real run: its per-step shares are the
    run's posed levels, and every dataset with a level enters the reward/content signal."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "teacher_learning.py"
    spec = importlib.util.spec_from_file_location("teacher_learning", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    res = bench.analyse("default", [math_run])
    rows = metrics(math_run)
    for row, step in zip(rows, res["per_step"], strict=True):
        levels = {int(k): v for k, v in row["levels_posed"].items()}
        assert step["questions"] == sum(levels.values()) == 8
        assert step["useful_share"] == sum(v for k, v in levels.items() if 2 <= k <= 4) / 8
        assert step["teacher_right"] == row["teacher_answer_accuracy"]
    assert res["signal"]["datasets"] == 4  # 2 steps x 2 datasets
    shift = res["useful_shift"]
    assert shift["diff"] == res["per_step"][-1]["useful_share"] - res["per_step"][0]["useful_share"]
    for key in ("corr_advantage_useful", "corr_advantage_right"):
        c = res["signal"][key]
        assert c is None or -1.0 <= c <= 1.0
    from soar_kit.commands.bench import machine_info

    out = {"args": {"seeds": [7]}, "machine": machine_info(), "variants": [res]}
    assert "| default:" in bench.markdown(out)
    bench.plot(out, tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 5_000


def kill_and_resume_matches(straight: Path, killed: Path, *extra: str) -> None:
    """Start the run of ``straight`` again in ``killed``, kill it, resume it: it must end with
    exactly ``straight``'s metrics, promotion questions and final numbers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "soar_kit", *run_args("math", killed, *extra)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state_file = killed / "state.json"
    deadline = time.time() + 900  # a guard against a hang, not part of the verdict
    # kill mid-run: at once when the first outer step is committed, whatever the machine's speed
    # (the kill lands during the second step or, at the latest, the final evaluation)
    while time.time() < deadline:
        if state_file.exists() and json.loads(state_file.read_text()).get("step", 0) >= 1:
            break
        if proc.poll() is not None:
            pytest.fail("the run ended before it could be killed")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads(state_file.read_text())["step"] >= 1
    assert not (killed / "summary.json").exists(), "the run had finished: nothing was killed"

    resumed = soarkit("run", "--run-dir", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert stable(metrics(killed)) == stable(metrics(straight))
    assert (killed / "pq.jsonl").read_text() == (straight / "pq.jsonl").read_text()
    a = json.loads((killed / "summary.json").read_text())
    b = json.loads((straight / "summary.json").read_text())
    assert (a["base"], a["promoted"]) == (b["base"], b["promoted"])


def test_kill_and_resume_continues_identically(tmp_path, math_run):
    kill_and_resume_matches(math_run, tmp_path / "killed")


def test_existing_run_needs_resume(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "state.json").write_text('{"step": 1}')
    out = soarkit("run", "--domain", "math", "--run-dir", str(run_dir))
    assert out.returncode == 2
    assert "already holds a run: pass --resume" in out.stderr


def test_domain_that_never_yields_a_valid_problem_fails_clearly(tmp_path):
    """A teacher whose outputs a domain always rejects: clear error, work so far kept."""
    model_dir = saved_tiny_model(tmp_path / "tiny", seed=0)
    run_dir = tmp_path / "r"
    out = soarkit(
        "run",
        "--domain",
        "math",
        "--model",
        str(model_dir),
        "--run-dir",
        str(run_dir),
        "--set",
        "hardset.problem_set=mini:3",
        "--set",
        "hardset.size=6",
        "--set",
        "hardset.k=2",
        "--set",
        "meta.g=2",
        "--set",
        "meta.n=2",
        "--set",
        "teacher.max_resample_factor=2",
        "--set",
        "teacher.rl.sampling.max_new_tokens=8",
    )
    assert out.returncode == 1
    assert "teacher outputs were valid problems after 8 tries" in out.stderr
    assert "Traceback" not in out.stderr
    for kept in ("config.toml", "hardset.jsonl", "state.json"):
        assert (run_dir / kept).exists(), kept


def test_missing_hard_set_file_is_a_clear_error(tmp_path):
    out = soarkit(
        "run",
        "--domain",
        "math",
        "--run-dir",
        str(tmp_path / "r"),
        "--set",
        f"hardset.path={tmp_path / 'nope.jsonl'}",
    )
    assert out.returncode == 2
    assert "nope.jsonl does not exist" in out.stderr
    assert (tmp_path / "r" / "config.toml").exists()  # what was written is kept


def test_hardset_command_mines_and_splits(tmp_path):
    """`soarkit hardset` with a real (random, so always failing) tiny model: all 6 are hard."""
    model_dir = saved_tiny_model(tmp_path / "tiny", seed=1)
    out_file = tmp_path / "hard.jsonl"
    out = soarkit(
        "hardset",
        "--domain",
        "math",
        "--model",
        str(model_dir),
        "--problem-set",
        "mini:3",
        "--size",
        "6",
        "--k",
        "2",
        "--out",
        str(out_file),
        "--set",
        "student.rl.sampling.max_new_tokens=8",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [r["split"] for r in rows].count("train") == 3
    assert [r["split"] for r in rows].count("test") == 3
    assert len({r["id"] for r in rows}) == 6 and all(r["k"] == 2 for r in rows)
    assert "6 of 6 problems are fail@2" in out.stdout
