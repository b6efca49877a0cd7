"""``soarkit bench soar-mini``: the paper's Table 4 comparison, end to end, on a CPU.

On one hard set (fail@k of the base soar-mini, mined once), for each seed:

* ``base``         the base student;
* ``hard-only``    RL directly on the hard train part (the baseline to beat);
* ``base-T``       a fresh student trained on questions from the *untrained* teacher, then on
                   hard train;
* ``intrinsic-T``  the same with questions from a teacher meta-trained with the learnability
                   reward (a full SOAR run with ``--reward learnability``);
* ``grounded-T``   the same with questions from the teacher of a grounded SOAR run;
* ``PS``           the promoted student of the grounded run;
* ``PQ``           a fresh student trained on the grounded run's promotion questions, then on
                   hard train.

Every trained method gets the same RL budget (two phases of ``train_steps``). Reported: pass@k
(k = 1..32, 32 samples, unbiased) on the hard test part, mean ± std over seeds, the Vendi
diversity of each teacher's questions, and wall time. Each seed's result is saved as it
finishes, and each SOAR run is resumable, so a killed bench continues where it stopped.
"""

from __future__ import annotations

import json
import platform
import random
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from soar_kit.config import RunConfig, load_config
from soar_kit.diversity import diversity
from soar_kit.evaluation import KS, load_pq, pass_at_ks
from soar_kit.executors import train_on
from soar_kit.generation import SamplingParams
from soar_kit.hardset import HardSet
from soar_kit.records import Problem
from soar_kit.runstore import RunStore, atomic_write_text

METHODS = ("base", "hard-only", "base-T", "intrinsic-T", "grounded-T", "PS", "PQ")


@dataclass(frozen=True)
class BenchSize:
    """How big the comparison is; ``quick`` checks the machinery in a few minutes."""

    seeds: int = 3
    outer_steps: int = 3
    g: int = 4
    n: int = 16
    r: int = 1
    qr_size: int = 16
    inner_steps: int = 10
    hard_candidates: int = 64
    k: int = 32
    questions: int = 64  # questions sampled from each teacher for the *-T methods
    train_steps: int = 15  # per phase, for every trained method
    samples: int = 32

    @classmethod
    def quick(cls) -> BenchSize:
        return cls(
            seeds=1,
            outer_steps=2,
            g=2,
            n=4,
            r=2,
            qr_size=8,
            inner_steps=2,
            hard_candidates=24,
            k=8,
            questions=8,
            train_steps=2,
            samples=8,
        )


def _config(
    domain: str, size: BenchSize, seed: int, sets: Sequence[str] = (), **fields: Any
) -> RunConfig:
    """The run config of one bench run: the bench's sizes, then ``sets`` (``KEY=VALUE``) win."""
    overrides = {
        "domain.name": domain,
        "seed": seed,
        "meta.outer_steps": size.outer_steps,
        "meta.g": size.g,
        "meta.n": size.n,
        "meta.r": size.r,
        "meta.qr_size": size.qr_size,
        "student.rl.steps": size.inner_steps,
        "hardset.k": size.k,
        "hardset.size": size.hard_candidates,
        **fields,
    }
    return load_config(None, list(sets), base=overrides)


def machine_info() -> dict[str, Any]:
    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    import os

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "commit": commit,
    }


def bench_soar_mini(
    out_dir: Path,
    *,
    domain: str = "math",
    size: BenchSize | None = None,
    console: Console | None = None,
    sets: Sequence[str] = (),
) -> dict[str, Any]:
    """Run (or resume) the comparison; ``sets`` are ``KEY=VALUE`` config overrides applied to
    every run (e.g. ``domain.options.answers=solver``), recorded in the result."""
    from soar_kit.loop import (
        derive_seed,
        load_checkpoint,
        load_policy,
        make_progress,
        mine_configured_hard_set,
        posed_summary,
        resolve_components,
        run_soar,
    )
    from soar_kit.modeling import restore_state, snapshot_state
    from soar_kit.teacher import sample_problems

    size = size or BenchSize()
    console = console or Console()
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    config = _config(domain, size, 0, sets)
    parts = resolve_components(config)
    dom = parts.domain
    base = load_policy(parts.source, config, dom, config.model.name)
    base_state = snapshot_state(base.model)
    teacher0 = load_policy(parts.source, config, dom, config.model.name)

    # -- one hard set for everything ------------------------------------------------------------
    hard_path = out_dir / "hardset.jsonl"
    if hard_path.exists():
        hard = HardSet.load(hard_path, dom)
    else:
        with make_progress(console) as progress:
            hard = mine_configured_hard_set(config, parts, base, progress)
        hard.save(hard_path)
    max_new = config.student.rl.sampling.max_new_tokens

    def train(problems: list[Problem], seed: int) -> None:
        settings = config.student.rl.model_copy(update={"steps": size.train_steps})
        train_on(dom, parts.trainer, base, problems, settings, seed)

    def score(seed: int) -> dict[str, float]:
        return pass_at_ks(
            dom,
            base,
            parts.backend,
            hard.test,
            samples=size.samples,
            max_new_tokens=max_new,
            seed=derive_seed(seed, "bench-score"),
        )

    def teacher_questions(teacher, seed: int) -> list[Problem]:
        sampling = config.teacher.rl.sampling
        params = SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_new_tokens=sampling.max_new_tokens,
            seed=derive_seed(seed, "bench-questions"),
        )
        batch = sample_problems(
            dom,
            teacher,
            parts.backend,
            count=size.questions,
            params=params,
            rng=random.Random(derive_seed(seed, "bench-prompts")),
            max_tries=size.questions * config.teacher.max_resample_factor,
            id_prefix="bench",
        )
        return [s.problem for s in batch.samples]

    per_seed: list[dict[str, Any]] = []
    with make_progress(console) as progress:
        task = progress.add_task("bench seeds", total=size.seeds)
        for s in range(size.seeds):
            seed_file = out_dir / f"seed-{s}.json"
            if seed_file.exists():
                per_seed.append(json.loads(seed_file.read_text()))
                progress.advance(task)
                continue
            t_seed = time.perf_counter()
            runs: dict[str, Path] = {}
            for reward in ("grounded", "learnability"):
                run_dir = out_dir / "runs" / f"{reward}-s{s}"
                cfg = _config(
                    domain,
                    size,
                    s,
                    sets,
                    **{
                        "meta.reward": reward,
                        "hardset.path": str(hard_path),
                        "run_dir": str(run_dir),
                    },
                )
                resume = (run_dir / "state.json").exists()
                if not (run_dir / "summary.json").exists():
                    run_soar(cfg, resume=resume, console=console)
                runs[reward] = run_dir
            result: dict[str, Any] = {
                "seed": s,
                "pass": {},
                "diversity": {},
                "diversity_kernel": config.meta.diversity,
            }

            restore_state(base.model, base_state)
            result["pass"]["base"] = score(s)
            restore_state(base.model, base_state)
            train(list(hard.train), derive_seed(s, "hard-only", 1))
            train(list(hard.train), derive_seed(s, "hard-only", 2))
            result["pass"]["hard-only"] = score(s)

            teachers = {
                "base-T": teacher0,
                "intrinsic-T": _final_teacher(runs["learnability"], cfg, load_checkpoint),
                "grounded-T": _final_teacher(runs["grounded"], cfg, load_checkpoint),
            }
            for method, teacher in teachers.items():
                questions = teacher_questions(teacher, derive_seed(s, method))
                result["diversity"][method] = diversity(
                    [q.question for q in questions], config.meta.diversity
                )
                # where the domain knows them: levels posed, teacher answers right
                result.setdefault("posed", {})[method] = posed_summary(questions)
                restore_state(base.model, base_state)
                train(questions, derive_seed(s, method, 1))
                train(list(hard.train), derive_seed(s, method, 2))
                result["pass"][method] = score(s)

            grounded = RunStore(runs["grounded"])
            state = grounded.load_state() or {}
            if state.get("baseline"):
                ps = load_checkpoint(grounded.checkpoint_dir(state["baseline"]), cfg)
                restore_state(base.model, snapshot_state(ps.model))
                result["pass"]["PS"] = score(s)
            pq = load_pq(grounded, dom)
            result["pq_size"] = len(pq)
            result["promotions"] = len(state.get("promotions", []))
            if pq:
                restore_state(base.model, base_state)
                train(pq, derive_seed(s, "pq", 1))
                train(list(hard.train), derive_seed(s, "pq", 2))
                result["pass"]["PQ"] = score(s)
            result["seconds"] = round(time.perf_counter() - t_seed, 1)
            atomic_write_text(seed_file, json.dumps(result, indent=2))
            per_seed.append(result)
            progress.advance(task)

    summary = _aggregate(per_seed, size, hard, domain, sets)
    summary["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    summary["machine"] = machine_info()
    atomic_write_text(out_dir / "result.json", json.dumps(summary, indent=2))
    _plot(summary, out_dir / "result.png")
    atomic_write_text(out_dir / "result.md", results_markdown(summary))
    console.print(results_table(summary))
    return summary


def _final_teacher(run_dir: Path, config: RunConfig, load_checkpoint) -> Any:
    state = RunStore(run_dir).load_state() or {}
    return load_checkpoint(RunStore(run_dir).checkpoint_dir(state["teacher"]), config)


def _aggregate(
    per_seed: list[dict[str, Any]],
    size: BenchSize,
    hard: HardSet,
    domain: str,
    sets: Sequence[str] = (),
) -> dict[str, Any]:
    methods: dict[str, Any] = {}
    for method in METHODS:
        runs = [r["pass"][method] for r in per_seed if method in r["pass"]]
        if not runs:
            methods[method] = None
            continue
        methods[method] = {
            k: {
                "mean": statistics.fmean(r[k] for r in runs),
                "std": statistics.pstdev(r[k] for r in runs),
                "n": len(runs),
            }
            for k in runs[0]
        }
    diversity = {
        m: statistics.fmean(r["diversity"][m] for r in per_seed)
        for m in ("base-T", "intrinsic-T", "grounded-T")
        if all(m in r["diversity"] for r in per_seed)
    }
    return {
        "domain": domain,
        "model": "soar-mini",
        "size": asdict(size),
        "overrides": list(sets),
        "hard_train": len(hard.train),
        "hard_test": len(hard.test),
        "methods": methods,
        "diversity": diversity,
        "promotions": [r.get("promotions", 0) for r in per_seed],
        "pq_sizes": [r.get("pq_size", 0) for r in per_seed],
        "seed_seconds": [r["seconds"] for r in per_seed],
        "per_seed": per_seed,
    }


def results_table(summary: dict[str, Any]) -> Table:
    ks = [f"pass@{k}" for k in KS if k <= summary["size"]["samples"]]
    table = Table(
        title=f"soar-mini on {summary['domain']}: pass@k on {summary['hard_test']} hard test "
        f"problems, mean ± std over {summary['size']['seeds']} seed(s)",
        title_justify="left",
    )
    table.add_column("method")
    for k in ks:
        table.add_column(k, justify="right")
    table.add_column("diversity", justify="right")
    for method in METHODS:
        table.add_row(method, *_row_cells(summary, method, ks))
    return table


def _row_cells(summary: dict[str, Any], method: str, ks: list[str]) -> list[str]:
    """One method's cells, for the rich table and the Markdown alike: pass@k, diversity."""
    res = summary["methods"].get(method)
    div = summary["diversity"].get(method)
    cells = (
        [f"{res[k]['mean']:.3f} ± {res[k]['std']:.3f}" for k in ks] if res else ["n/a"] * len(ks)
    )
    return [*cells, f"{div:.1f}" if div is not None else ""]


def results_markdown(summary: dict[str, Any]) -> str:
    """The result as Markdown (what docs/results.md quotes): pass@k, diversity, what each
    teacher posed, promotions, time and machine."""
    ks = [f"pass@{k}" for k in KS if k <= summary["size"]["samples"]]
    m = summary.get("machine", {})
    lines = [
        f"soar-mini on {summary['domain']}: pass@k on {summary['hard_test']} hard test problems "
        f"({summary['hard_train']} hard train), mean ± std over {summary['size']['seeds']} "
        f"seed(s). Wall time {summary.get('wall_seconds', 0) / 60:.1f} min on {m.get('cpu', '?')} "
        f"({m.get('cores', '?')} cores, torch {m.get('torch', '?')}, "
        f"{m.get('torch_threads', '?')} threads), commit `{m.get('commit', '?')}`.",
        "",
        "| method | " + " | ".join(ks) + " | diversity (Vendi) |",
        "|---|" + "---|" * (len(ks) + 1),
    ]
    for method in METHODS:
        lines.append(f"| {method} | " + " | ".join(_row_cells(summary, method, ks)) + " |")
    lines += [
        "",
        f"Promotions per seed: {summary['promotions']}; PQ sizes: {summary['pq_sizes']}; "
        f"seconds per seed: {summary['seed_seconds']}.",
        "",
        "What each teacher posed (levels, per seed) and how often its own answer was right:",
        "",
    ]
    for r in summary["per_seed"]:
        for method, posed in sorted(r.get("posed", {}).items()):
            lines.append(
                f"- seed {r['seed']}, {method}: levels {posed.get('levels_posed', {})}, "
                f"answers right {posed.get('teacher_answer_accuracy', float('nan')):.0%}"
            )
    lines += ["", f"Sizes: `{json.dumps(summary['size'])}`"]
    if summary.get("overrides"):
        lines += ["", f"Config overrides: `{' '.join(summary['overrides'])}`"]
    lines += [""]
    return "\n".join(lines)


def _plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for method in METHODS:
        res = summary["methods"].get(method)
        if res is None:
            continue
        ks = sorted(res, key=lambda k: int(k.split("@")[1]))
        xs = [int(k.split("@")[1]) for k in ks]
        ys = [res[k]["mean"] for k in ks]
        es = [res[k]["std"] for k in ks]
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=method)
    ax.set_xscale("log", base=2)
    ax.set(
        xlabel="k",
        ylabel="pass@k on hard test",
        title=f"soar-mini ({summary['domain']}): SOAR comparison",
    )
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
