"""Does the soar-mini teacher learn, and what moves it? (issue 19, item 3)

Each variant is the README's first run (``soarkit run --domain math``) with a few ``--set``
overrides, run through the CLI at several seeds, one run at a time (two torch jobs on two cores
thrash). From each run's ``metrics.jsonl`` it reads what the teacher posed at every outer step
(the level of each question, whether its own answer was right) and, per dataset, next to the
dataset's grounded reward:

* **the shift**: the share of levels 2-4 (the stones whose teacher answers are mostly right,
  docs/soar-mini.md) and of right teacher answers, first outer step (the untrained teacher:
  the same at every variant for one seed) against the last; pooled over seeds, with the
  standard error of the difference;
* **the signal**: the correlation, over every (seed, step, dataset), of the dataset's RLOO
  advantage (its reward minus the mean of the other datasets' of the step) with its share of
  levels 2-4 and of right teacher answers. The teacher's update moves it toward what the
  advantage favours; a correlation near 0 means no learning rate can make it learn that.

    .venv/bin/python benchmarks/teacher_learning.py --variants default,lr1e-3 --seeds 0,1,2

Writes ``benchmarks/results/<out>.{json,md,png}``; finished runs under ``--runs`` are reused,
and a killed run is resumed, so a killed sweep continues where it stopped (a resumed run's wall
time is that of its last part only).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
USEFUL = {2, 3, 4}

VARIANTS: dict[str, tuple[str, list[str]]] = {
    "default": ("the shipped defaults (teacher lr 1e-4, 5 outer steps x 20 inner)", []),
    "lr3e-4": ("teacher lr 3e-4", ["teacher.rl.lr=3e-4"]),
    "lr1e-3": ("teacher lr 1e-3", ["teacher.rl.lr=1e-3"]),
    "long": (
        "15 outer steps x 7 inner (the same student compute, 3x the teacher updates)",
        ["meta.outer_steps=15", "student.rl.steps=7"],
    ),
    "n4": (
        "g = 8 datasets of n = 4 (sharper credit per question, twice the students)",
        ["meta.g=8", "meta.n=4"],
    ),
    "g8": ("g = 8 datasets per step", ["meta.g=8"]),
    "r2": ("r = 2 students per dataset", ["meta.r=2"]),
}


def run_one(runs: Path, variant: str, seed: int) -> Path:
    run_dir = runs / f"{variant}-s{seed}"
    if (run_dir / "summary.json").exists():
        return run_dir
    cmd = [sys.executable, "-m", "soar_kit", "run", "--domain", "math", "--seed", str(seed)]
    cmd += ["--run-dir", str(run_dir)]
    for item in VARIANTS[variant][1]:
        cmd += ["--set", item]
    if (run_dir / "state.json").exists():
        cmd.append("--resume")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{variant} seed {seed} failed (rc {proc.returncode}):\n{proc.stderr[-2000:]}")
    (run_dir / "wall_seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
    return run_dir


def _counts(posed: dict[str, Any]) -> tuple[int, int, int]:
    """(questions with a level, of them at levels 2-4, teacher answers right)."""
    levels = {int(k): v for k, v in posed.get("levels_posed", {}).items()}
    n = sum(levels.values())
    useful = sum(v for k, v in levels.items() if k in USEFUL)
    right = round(posed.get("teacher_answer_accuracy", 0.0) * n)
    return n, useful, right


def _pearson(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3:
        return None
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def _slope(ys: list[float]) -> dict[str, float] | None:
    """Least-squares trend of a per-step share, per outer step, with its standard error:
    a first-vs-last difference alone rests on two noisy steps."""
    n = len(ys)
    if n < 3:
        return None
    xs = list(range(n))
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    resid = sum((y - my - b * (x - mx)) ** 2 for x, y in zip(xs, ys, strict=True))
    return {"per_step": b, "se": math.sqrt(resid / (n - 2) / sxx)}


def _share_diff(a: tuple[int, int], b: tuple[int, int]) -> dict[str, float]:
    """b's share minus a's, with the standard error of two independent proportions."""
    (ka, na), (kb, nb) = a, b
    pa, pb = ka / na, kb / nb
    se = math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    return {"first": pa, "last": pb, "diff": pb - pa, "se": se}


def analyse(variant: str, run_dirs: list[Path]) -> dict[str, Any]:
    per_step: dict[int, list[int]] = {}  # step -> [n, useful, right]
    level_counts: dict[int, dict[int, int]] = {}
    adv, useful_share, right_share = [], [], []
    seeds = []
    for run_dir in run_dirs:
        rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
        summary = json.loads((run_dir / "summary.json").read_text())
        seeds.append(
            {
                "run": run_dir.name,
                "seed": tomllib.loads((run_dir / "config.toml").read_text())["seed"],
                "promotions": summary["promotions"],
                "base_pass@32": summary["base"]["pass@32"],
                "final_pass@32": summary["promoted"]["pass@32"],
                "wall_s": float((run_dir / "wall_seconds.txt").read_text())
                if (run_dir / "wall_seconds.txt").exists()
                else None,
                "teacher_skipped": sum(r.get("teacher_skipped", 0.0) for r in rows),
                "mean_teacher_kl": sum(r.get("teacher_kl", 0.0) for r in rows) / len(rows),
            }
        )
        for r in rows:
            acc = per_step.setdefault(r["step"], [0, 0, 0])
            for i, v in enumerate(_counts(r)):
                acc[i] += v
            lc = level_counts.setdefault(r["step"], {})
            for k, v in r.get("levels_posed", {}).items():
                lc[int(k)] = lc.get(int(k), 0) + v
            rewards, posed = r["rewards"], r.get("dataset_posed")
            if not posed or len(rewards) < 2:
                continue
            for k, p in enumerate(posed):
                others = [x for j, x in enumerate(rewards) if j != k]
                n, u, rt = _counts(p)
                if n:
                    adv.append(rewards[k] - sum(others) / len(others))
                    useful_share.append(u / n)
                    right_share.append(rt / n)
    steps = sorted(per_step)
    first, last = per_step[steps[0]], per_step[steps[-1]]
    return {
        "variant": variant,
        "description": VARIANTS[variant][0],
        "sets": VARIANTS[variant][1],
        "seeds": seeds,
        "per_step": [
            {
                "step": s + 1,
                "questions": per_step[s][0],
                "useful_share": per_step[s][1] / per_step[s][0],
                "teacher_right": per_step[s][2] / per_step[s][0],
                "levels": {str(k): v for k, v in sorted(level_counts[s].items())},
            }
            for s in steps
        ],
        "useful_trend": _slope([per_step[s][1] / per_step[s][0] for s in steps]),
        "right_trend": _slope([per_step[s][2] / per_step[s][0] for s in steps]),
        "useful_shift": _share_diff((first[1], first[0]), (last[1], last[0])),
        "right_shift": _share_diff((first[2], first[0]), (last[2], last[0])),
        "signal": {
            "datasets": len(adv),
            "corr_advantage_useful": _pearson(adv, useful_share),
            "corr_advantage_right": _pearson(adv, right_share),
            # a correlation's standard error near 0 (Fisher): what "near 0" means here
            "corr_se": 1 / math.sqrt(len(adv) - 3) if len(adv) > 3 else None,
        },
    }


def _f(x: float | None, fmt: str = "+.2f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _trend(t: dict[str, float] | None) -> str:
    return f"{t['per_step']:+.1%} ± {t['se']:.1%}" if t else "n/a"


def table(res: dict[str, Any]) -> list[str]:
    """The comparison table (also quoted in docs/results.md)."""
    lines = [
        "| variant | seeds | levels 2-4: step 1 → last | trend | teacher answers right: "
        "step 1 → last | trend | corr(advantage, L2-4) | corr(advantage, right) | datasets "
        "| promotions | final pass@32 | wall per run |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for v in res["variants"]:
        u, r, s = v["useful_shift"], v["right_shift"], v["signal"]
        walls = [x["wall_s"] for x in v["seeds"] if x["wall_s"]]
        wall = f"{sum(walls) / len(walls) / 60:.1f} min" if walls else "n/a"
        finals = ", ".join(format(x["final_pass@32"], ".2f") for x in v["seeds"])
        se = _f(s["corr_se"], ".2f")
        lines.append(
            f"| {v['variant']}: {v['description']} "
            f"| {', '.join(str(x['seed']) for x in v['seeds'])} "
            f"| {u['first']:.0%} → {u['last']:.0%} | {_trend(v['useful_trend'])} "
            f"| {r['first']:.0%} → {r['last']:.0%} | {_trend(v['right_trend'])} "
            f"| {_f(s['corr_advantage_useful'])} ± {se} | {_f(s['corr_advantage_right'])} ± {se} "
            f"| {s['datasets']} | {', '.join(str(x['promotions']) for x in v['seeds'])} "
            f"| {finals} | {wall} |"
        )
    return lines


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        "# Does the soar-mini teacher learn? (benchmarks/teacher_learning.py)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, commit {m['commit']}; "
        "each run alone, through `soarkit run --domain math --seed S --set ...`. Levels 2-4 "
        "are the stones whose teacher answers are mostly right; step 1 is the untrained "
        "teacher. ± is one standard error; trend: the least-squares change per outer step of "
        "the pooled share.",
        "",
        *table(res),
    ]
    lines += [
        "",
        "Per outer step (pooled over seeds): share of levels 2-4 / teacher answers right.",
        "",
    ]
    for v in res["variants"]:
        cells = ", ".join(
            f"{p['useful_share']:.0%}/{p['teacher_right']:.0%}" for p in v["per_step"]
        )
        lines.append(f"- {v['variant']}: {cells}")
    return "\n".join(lines) + "\n"


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for v in res["variants"]:
        xs = [p["step"] for p in v["per_step"]]
        axes[0].plot(xs, [p["useful_share"] for p in v["per_step"]], marker="o", label=v["variant"])
        axes[1].plot(
            xs, [p["teacher_right"] for p in v["per_step"]], marker="o", label=v["variant"]
        )
    axes[0].set_title("share of posed questions at levels 2-4")
    axes[1].set_title("teacher's own answers right")
    for ax in axes:
        ax.set_xlabel("outer step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", default="lr3e-4,lr1e-3,long,n4")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default="teacher_learning", help="result stem in benchmarks/results")
    ap.add_argument("--runs", type=Path, default=Path("/tmp/teacher_learning_runs"))
    ap.add_argument(
        "--no-run",
        action="store_true",
        help="only read the finished runs among the seeds (a partial sweep), start none",
    )
    args = ap.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        sys.exit(f"--variants: unknown {', '.join(unknown)} (known: {', '.join(VARIANTS)})")
    seeds = [int(s) for s in args.seeds.split(",")]
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    from soar_kit.commands.bench import machine_info

    res: dict[str, Any] = {
        "args": {
            "variants": variants,
            "seeds": seeds,
            "runs": str(args.runs),
            "no_run": args.no_run,
        },
        "machine": machine_info(),
        "variants": [],
    }
    from rich.progress import Progress

    out = RESULTS / args.out
    with Progress() as progress:
        task = progress.add_task("runs", total=0 if args.no_run else len(variants) * len(seeds))
        for v in variants:
            if args.no_run:
                dirs = [args.runs / f"{v}-s{s}" for s in seeds]
                dirs = [d for d in dirs if (d / "summary.json").exists()]
                if not dirs:
                    sys.exit(f"--no-run: no finished run of {v} under {args.runs}")
            else:
                dirs = []
                for seed in seeds:
                    progress.update(task, description=f"{v} seed {seed}")
                    dirs.append(run_one(args.runs, v, seed))
                    progress.advance(task)
            res["variants"].append(analyse(v, dirs))
            out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
            out.with_suffix(".md").write_text(markdown(res))
            plot(res, out.with_suffix(".png"))
    print(markdown(res), flush=True)


if __name__ == "__main__":
    main()
