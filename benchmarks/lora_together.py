"""Benchmark: LoRA students trained one after another vs together (``student.lora.together``).

Why it exists: issue 17 asks whether batching the g*r students' RL updates over adapters on
one base pays, and says to measure it. Together, each RLOO step samples every student's
rollouts in one batch and scores them in one forward/backward (peft's mixed-adapter batch), so
the base's weights are read once per step for all of them; each student keeps its own problems,
seed, clipping and AdamW. The training rewards must come out the same at every setting (checked
here against the one-after-another run, as tests/models/test_lora_together.py does).

Each setting runs in a fresh process (so its peak RSS is its own) with the same students: S
students, each on its own problems from the model's problem set and its own seed. Timed: the
students' training only (Q_R scoring is the same work either way and left out).

    .venv/bin/python benchmarks/lora_together.py                      # soar-mini and SmolLM2
    .venv/bin/python benchmarks/lora_together.py --models soar-mini --together 1,2 --steps 2

Writes ``benchmarks/results/lora_together.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

#: (preset or None, problem set for the students, --set overrides) per model
MODELS: dict[str, tuple[str | None, str, list[str]]] = {
    # the README's first run: 20 steps of 8 prompts x 4 samples, 112 new tokens
    "soar-mini": (None, "mini:2", ["student.lora.r=8", "student.rl.lr=2e-3"]),
    # the smollm2-cpu preset: 8 steps of 4 prompts x 4 samples, 48 new tokens
    "smollm2-135m": ("smollm2-cpu", "arithmetic-l1", []),
}


def one(
    model: str, together: int, students: int, steps: int | None, sets: list[str]
) -> dict[str, Any]:
    import torch

    from soar_kit.commands.cli import build_config
    from soar_kit.components import domain_for, load_run_policy, resolve_components
    from soar_kit.contracts.trainer import VerifierReward
    from soar_kit.hardset import candidate_problems
    from soar_kit.lm.lora import slot_state, student_slots
    from soar_kit.lm.weights import restore_state
    from soar_kit.machine import peak_rss_bytes, reset_peak_rss, rss_bytes
    from soar_kit.students import StudentPool

    preset, problem_set, extra = MODELS[model]
    overrides = ["student.mode=lora", f"student.lora.together={together}", *extra, *sets]
    if steps:
        overrides.append(f"student.rl.steps={steps}")
    config = build_config(Path(preset) if preset else None, tuple(overrides))
    parts = resolve_components(config)
    policy = load_run_policy(config, parts.domain)
    domain = domain_for(config, parts.domain, policy)
    pool = StudentPool(policy, mode="lora", lora=config.student.lora, lora_seed=config.seed)
    student = pool.fresh()
    jobs = [
        (candidate_problems(domain, problem_set, seed=10 + i, size=16), 100 + i)
        for i in range(students)
    ]
    settings = config.student.rl
    kwargs = {
        "prompt": domain.student_prompt,
        "reward": VerifierReward(domain),
        "settings": settings,
    }
    out: dict[str, Any] = {
        "model": model,
        "together": together,
        "rss_loaded_mb": rss_bytes() / 2**20,
    }
    rewards: list[list[float]] = []
    tokens = 0
    reset_peak_rss()
    t = time.perf_counter()
    for lo in range(0, students, together):
        group = jobs[lo : lo + together]
        if len(group) == 1:
            restore_state(student.model, pool.snapshot, partial=True)
            problems, seed = group[0]
            stats = [parts.trainer.train(student, problems, seed=seed, **kwargs)]
        else:
            with student_slots(student.model, [pool.snapshot] * len(group)) as slots:
                stats = parts.trainer.train_together(student, group, slots, **kwargs)
                [slot_state(student.model, s) for s in slots]  # what a job returns, timed too
        rewards += [list(s.mean_reward) for s in stats]
        tokens += sum(s.tokens for s in stats)
    out["seconds"] = time.perf_counter() - t
    out["peak_mb"] = peak_rss_bytes() / 2**20
    out["train_rewards"] = rewards
    out["tokens"] = tokens
    out["settings"] = {
        "steps": settings.steps,
        "batch_size": settings.batch_size,
        "group_size": settings.group_size,
        "max_new_tokens": settings.sampling.max_new_tokens,
        "lora_r": config.student.lora.r,
        "micro_batch": settings.micro_batch or 64,
    }
    out["threads"] = torch.get_num_threads()
    return out


def render(result: dict[str, Any]) -> str:
    lines = [
        "# LoRA students: one after another vs trained together on one base",
        "",
        f"Measured {result['date']} on {result['machine']}, {result['threads']} torch threads, "
        f"commit {result['commit']}; {result['students']} students, each on its own 16 problems "
        "and seed; each setting in a fresh process; time and peak RSS of the students' training "
        f"only. Command: `{result['command']}`.",
        "",
        "| model | students at once | RL steps x prompts x samples, new tokens | rows scored at "
        "once (micro-batch) | training wall | speed-up | completion tokens / s | peak RSS | "
        "train rewards equal to one at a time |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for model in dict.fromkeys(r["model"] for r in result["runs"]):
        runs = [r for r in result["runs"] if r["model"] == model]
        ref = next((r for r in runs if r["together"] == 1), runs[0])
        for r in runs:
            s = r["settings"]
            same = (
                "reference"
                if r is ref
                else ("yes" if r["train_rewards"] == ref["train_rewards"] else "**no**")
            )
            lines.append(
                f"| {model} | {r['together']} | {s['steps']} x {s['batch_size']} x "
                f"{s['group_size']}, {s['max_new_tokens']} | {s.get('micro_batch', 64)} | "
                f"{r['seconds']:.1f} s | "
                f"{ref['seconds'] / r['seconds']:.2f}x | {r['tokens'] / r['seconds']:.0f} | "
                f"{r['peak_mb'] / 1024:.2f} GB | {same} |"
            )
    lines += ["", f"Raw runs (per-student training rewards): `{result['out']}.json`."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="soar-mini,smollm2-135m")
    ap.add_argument(
        "--together",
        default="1,2,4,4/16",
        help="students at once, one run each; K/M: K at once, scored M rows at a time "
        "(student.rl.micro_batch; the trainer's default is 64)",
    )
    ap.add_argument("--students", type=int, default=4)
    ap.add_argument("--steps", type=int, default=0, help="RL steps per student (0: the preset's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], help="a config override, every run")
    ap.add_argument("--out", type=Path, default=RESULTS / "lora_together")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: MODEL:K[/M] in this process
    args = ap.parse_args()
    if args.one:
        import torch

        torch.set_num_threads(args.threads)
        model, _, spec = args.one.partition(":")
        together, _, micro = spec.partition("/")
        sets = [*args.set, *([f"student.rl.micro_batch={micro}"] if micro else [])]
        res = one(model, int(together), args.students, args.steps or None, sets)
        print("RESULT " + json.dumps(res))
        return
    runs = []
    for model in args.models.split(","):
        for together in args.together.split(","):
            cmd = [sys.executable, __file__, "--one", f"{model}:{together}",
                   "--students", str(args.students), "--steps", str(args.steps),
                   "--threads", str(args.threads),
                   *[f"--set={x}" for x in args.set]]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True)
            line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
            if out.returncode != 0 or not line:
                sys.exit(f"{model}:{together} failed:\n{out.stderr[-3000:]}")
            runs.append(json.loads(line[-1][7:]))
            print(model, together, f"{runs[-1]['seconds']:.1f} s", flush=True)
    from soar_kit.machine import cpu_model

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
        "commit": commit or "unknown",
        "students": args.students,
        "threads": args.threads,
        "command": " ".join(["python benchmarks/lora_together.py", *sys.argv[1:]]),
        "runs": runs,
        "out": args.out.name,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(render(result))
    print(render(result))


if __name__ == "__main__":
    main()
