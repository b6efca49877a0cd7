"""Benchmark: outer-step wall time with the ``ray`` executor (2 workers) vs ``local``.

Two real ``soarkit run`` invocations on the math domain with the default soar-mini, identical
except for the executor: ``local`` (the g*r students one after another in the driver, torch's
default thread count) and ``ray`` (2 actors x 1 CPU on a local Ray instance the run starts
itself). Per outer step the run's own ``metrics.jsonl`` gives the wall time and the share spent
on rewards (= the inner trainings). Promotion is disabled (tau huge) so every step does the
same work; step 0 is reported apart because Ray starts its workers there.

Then the *single-student* numbers the capacity table of docs/scaling.md is built from: one inner
training (reset, RL, greedy Q_R accuracy) timed in-process with 1 thread for soar-mini and,
unless ``--no-smollm``, SmolLM2-135M (offline GGUF) at a reduced shape.

    .venv/bin/python benchmarks/executors.py            # ~10-20 min on a shared 2-core box
    .venv/bin/python benchmarks/executors.py --steps 2 --no-smollm

Writes ``benchmarks/results/executors.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from soar_kit.machine import cpu_model

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

#: The run both executors do: g*r = 8 inner trainings per outer step.
RUN = [
    "meta.g=4",
    "meta.n=8",
    "meta.r=2",
    "meta.qr_size=16",
    "meta.tau=1e9",
    "student.rl.steps=4",
    "student.rl.batch_size=4",
    "student.rl.group_size=4",
    "hardset.size=24",
    "hardset.k=8",
    "model.device=cpu",
    # pinned: defaults change between versions, and both variants must do the same work
    "student.rl.sampling.max_new_tokens=48",
    "teacher.rl.sampling.max_new_tokens=160",
    "teacher.max_resample_factor=16",
]
EXECUTORS = {
    "local": ["executor.name=local"],
    "local-1t": ["executor.name=local"],
    "ray": [
        "executor.name=ray",
        "executor.options.num_workers=2",
        "executor.options.cpus_per_worker=1",
    ],
}
EXECUTORS["ray-1t"] = EXECUTORS["ray"]


#: Extra environment per variant: ``local-1t`` is ``local`` with one torch thread, the fair
#: comparison on a shared machine where torch's default threads oversubscribe the cores.
ENV = {"local-1t": {"OMP_NUM_THREADS": "1"}, "ray-1t": {"OMP_NUM_THREADS": "1"}}


def run_steps(name: str, steps: int, seed: int, workdir: Path) -> dict[str, Any]:
    run_dir = workdir / name
    sets = [a for s in [*RUN, f"meta.outer_steps={steps}", *EXECUTORS[name]] for a in ("--set", s)]
    cmd = [sys.executable, "-m", "soar_kit", "run", "--domain", "math", "--seed", str(seed)]
    start = time.perf_counter()
    out = subprocess.run(
        [*cmd, "--run-dir", str(run_dir), *sets],
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, **ENV.get(name, {})},
    )
    total = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{name} run failed:\n{out.stderr[-3000:]}")
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {
        "process_seconds": round(total, 1),
        "step_seconds": [round(r["seconds"], 2) for r in rows],
        "reward_seconds": [round(r["timings"]["rewards"], 2) for r in rows],
        "student_gains": [r["student_gains"] for r in rows],
    }


def single_student(model: str, rl: dict[str, Any], problems: int) -> dict[str, Any]:
    """One inner training (reset, RL, greedy accuracy on |Q_R| = problems), 1 thread."""
    import torch

    from soar_kit.components import load_run_policy
    from soar_kit.config import RunConfig
    from soar_kit.contracts.executor import StudentJob
    from soar_kit.hardset import candidate_problems
    from soar_kit.lm.weights import count_parameters, snapshot_state
    from soar_kit.plugins import get_manager
    from soar_kit.students import train_student

    torch.set_num_threads(1)
    config = RunConfig.model_validate(
        {"seed": 7, "model": {"name": model, "device": "cpu"}, "student": {"rl": rl}}
    )
    manager = get_manager()
    domain = manager.domain("math")
    policy = load_run_policy(config, domain)
    data = candidate_problems(domain, "mini:2", seed=1, size=8)
    qr = candidate_problems(domain, "mini:hard", seed=2, size=problems)
    job = StudentJob(dataset=0, student=0, problems=tuple(data), seed=1)
    state = snapshot_state(policy.model)
    start = time.perf_counter()
    result = train_student(
        job,
        config=config,
        domain=domain,
        trainer=manager.get("trainer", "rloo"),
        backend=manager.get("backend", "transformers"),
        student=policy,
        baseline_state=state,
        qr=qr,
    )
    seconds = time.perf_counter() - start
    weight_bytes = sum(v.numel() * v.element_size() for v in state.values())
    return {
        "model": model,
        "params": count_parameters(policy.model),
        "weight_mb": round(weight_bytes / 2**20, 1),
        "rl": rl,
        "qr_size": problems,
        "seconds": round(seconds, 2),
        "train_rewards": list(result.train_rewards),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3, help="outer steps per run (>= 2)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-smollm", action="store_true", help="skip SmolLM2-135M single student")
    ap.add_argument(
        "--executors",
        default="local-1t,ray-1t",
        help="variants to run (comma-separated; ratios are against each local variant run)",
    )
    args = ap.parse_args()

    import ray
    import torch

    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "load_avg_start": list(os.getloadavg()),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "ray": ray.__version__,
        },
        "run": RUN,
        "jobs_per_step": 8,
    }
    names = [n for n in args.executors.split(",") if n]
    result["executors"] = names
    with tempfile.TemporaryDirectory(prefix="soarkit-bench-") as tmp:
        for name in names:
            print(f"outer steps with executor={name} ...", flush=True)
            result[name] = run_steps(name, args.steps, args.seed, Path(tmp))
            print(f"  {result[name]['step_seconds']}", flush=True)
    steady = {n: _mean(result[n]["step_seconds"][1:]) for n in names}
    result["steady_step_seconds"] = steady
    for ray_name in (n for n in names if n.startswith("ray")):
        for base in (n for n in names if n.startswith("local")):
            pair = f"{ray_name}_over_{base}"
            result[f"same_gains_{pair}"] = (
                result[base]["student_gains"] == result[ray_name]["student_gains"]
            )
            result[f"ratio_{pair}"] = round(steady[ray_name] / steady[base], 3)
            result[f"ratio_step0_{pair}"] = round(
                result[ray_name]["step_seconds"][0] / result[base]["step_seconds"][0], 3
            )

    print("single-student timings ...", flush=True)
    rl = {"steps": 4, "batch_size": 4, "group_size": 4}
    singles = [single_student("soar-mini", rl, 16)]
    if not args.no_smollm:
        small = {"steps": 2, "batch_size": 2, "group_size": 4, "sampling": {"max_new_tokens": 32}}
        singles.append(single_student("smollm2-135m", small, 4))
    result["single_student"] = singles
    result["machine"]["load_avg_end"] = list(os.getloadavg())

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "executors.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "executors.md").write_text(_markdown(result))
    print((RESULTS / "executors.md").read_text())


def _mean(xs: list[float]) -> float:
    return round(sum(xs) / len(xs), 2) if xs else float("nan")


def _markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        "# Executors: outer-step wall time, `ray` (2 workers) vs `local`",
        "",
        f"{r['date']} · {m['cpu']} · {m['cores']} cores (shared; load average "
        f"{m['load_avg_start'][0]:.1f} at start, {m['load_avg_end'][0]:.1f} at end) · "
        f"torch {m['torch']} · ray {m['ray']}",
        "",
        f"`soarkit run --domain math` (soar-mini), {r['jobs_per_step']} inner trainings per "
        f"outer step: `{' '.join(r['run'])}`.",
        "",
        "| executor | step 0 (s) | later steps (s) | mean later step (s) | rewards share |",
        "|---|---|---|---|---|",
    ]
    for name in r["executors"]:
        x = r[name]
        share = sum(x["reward_seconds"]) / max(1e-9, sum(x["step_seconds"]))
        lines.append(
            f"| {name} | {x['step_seconds'][0]} | {x['step_seconds'][1:]} | "
            f"{r['steady_step_seconds'][name]} | {share:.0%} |"
        )
    lines.append("")
    for key in (k for k in r if k.startswith("ratio_ray")):
        pair = key.removeprefix("ratio_")
        a, b = pair.split("_over_")
        lines.append(
            f"- **{a} / {b}, mean later step: {r[key]}** (step 0, with Ray start-up: "
            f"{r[f'ratio_step0_{pair}']}); same student gains: {r[f'same_gains_{pair}']}"
        )
    lines += [
        "",
        "## Single student (1 thread, in-process)",
        "",
        "| model | params | weights (MiB) | RL settings | Q_R | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for s in r["single_student"]:
        rl = s["rl"]
        shape = f"{rl['steps']} steps x {rl['batch_size']} x {rl['group_size']}"
        new = rl.get("sampling", {}).get("max_new_tokens", 48)
        lines.append(
            f"| {s['model']} | {s['params']:,} | {s['weight_mb']} | {shape}, "
            f"{new} new tokens | {s['qr_size']} | {s['seconds']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
