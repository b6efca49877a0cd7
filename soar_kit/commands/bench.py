"""``soarkit bench``: the paper's Table 4 comparison, end to end, for any model and domain.

``soarkit bench run --config smollm2-cpu --domain math`` compares on the configured model and
problem set; ``soarkit bench soar-mini`` is the preset of it sized for soar-mini on a CPU.
On one hard set (fail@k of the base model, mined once), for each seed:

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
import os
import platform
import random
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from soar_kit.components import domain_for, load_run_policy, resolve_components
from soar_kit.config import RunConfig, derive_seed, load_config, resolve_config_path
from soar_kit.contracts.backend import SamplingParams
from soar_kit.contracts.records import Problem
from soar_kit.diversity import diversity
from soar_kit.errors import ConfigError
from soar_kit.hardset import HardSet, mine_configured_hard_set
from soar_kit.lm.weights import restore_state, snapshot_state
from soar_kit.loop import run_soar
from soar_kit.machine import cpu_model
from soar_kit.metrics import paired_difference
from soar_kit.progress import make_progress
from soar_kit.runstore import RunStore, atomic_write_text, load_checkpoint, load_pq
from soar_kit.scoring import KS, pass_at_ks
from soar_kit.students import train_on
from soar_kit.teacher import posed_summary, sample_problems

METHODS = ("base", "hard-only", "base-T", "intrinsic-T", "grounded-T", "PS", "PQ")
#: The comparisons the paper's claims rest on, reported seed-paired (``a - b``) at the top k.
PAIRS = (
    ("grounded-T", "intrinsic-T"),
    ("PS", "intrinsic-T"),
    ("PQ", "intrinsic-T"),
    ("grounded-T", "hard-only"),
    ("PQ", "hard-only"),
    ("grounded-T", "base-T"),
)


@dataclass(frozen=True)
class BenchSize:
    """How big the comparison is; ``quick`` checks the machinery in a few minutes."""

    seeds: int = 4  # two rounds of --jobs 2 on 2 cores
    outer_steps: int = 5
    g: int = 4
    n: int = 16
    r: int = 1
    qr_size: int = 16
    qr_samples: int = 16  # samples per Q_R question: a reward of 1/256 is resolvable
    inner_steps: int = 30
    # students (inner loops and every compared method) hold their lr after the warmup: under
    # cosine, 20 steps lift the hard level by ~0.5 % pass@1, too little for any reward to see;
    # 20 constant steps gave grounded rewards up to 0.09 but promotions in 1 seed of 2, 30 in
    # all 4 (docs/results.md)
    schedule: str = "constant"
    # the paper's 1e-5 is for a 3B model; soar-mini has 0.44M weights. None: the config's own
    teacher_lr: float | None = 1e-4
    hard_candidates: int = 64
    k: int = 32
    questions: int = 64  # questions sampled from each teacher for the *-T methods
    train_steps: int = 20  # per phase, for every trained method
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
            qr_samples=2,
            inner_steps=2,
            hard_candidates=24,
            k=8,
            questions=8,
            train_steps=2,
            samples=8,
        )


def size_with(size: BenchSize, items: Sequence[str]) -> BenchSize:
    """``size`` with ``KEY=VALUE`` items (``inner_steps=4``) replaced; errors name the key."""
    from dataclasses import fields, replace

    kinds = {f.name: f.type for f in fields(BenchSize)}
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or key not in kinds:
            raise ConfigError(
                f"--size {item!r}: expected KEY=VALUE with KEY one of {', '.join(kinds)}"
            )
        try:
            if key == "schedule":
                values[key] = raw
            elif key == "teacher_lr":
                values[key] = None if raw.lower() in ("none", "config") else float(raw)
            else:
                values[key] = int(raw)
        except ValueError:
            raise ConfigError(f"--size {key}: not a number: {raw!r}") from None
    return replace(size, **values)


def _config(
    domain: str,
    size: BenchSize,
    seed: int,
    sets: Sequence[str] = (),
    config_file: Path | None = None,
    **fields: Any,
) -> RunConfig:
    """The run config of one bench run: ``config_file`` (a file or preset: model, prompts,
    lr), then the bench's sizes, then ``sets`` (``KEY=VALUE``) win."""
    overrides = {
        "domain.name": domain,
        "seed": seed,
        "meta.outer_steps": size.outer_steps,
        "meta.g": size.g,
        "meta.n": size.n,
        "meta.r": size.r,
        "meta.qr_size": size.qr_size,
        "meta.qr_samples": size.qr_samples,
        "student.rl.steps": size.inner_steps,
        "student.rl.schedule": size.schedule,
        "hardset.k": size.k,
        "hardset.size": size.hard_candidates,
        **fields,
    }
    if size.teacher_lr is not None:
        overrides["teacher.rl.lr"] = size.teacher_lr
    if config_file is not None:
        config_file, _ = resolve_config_path(config_file)
    return load_config(config_file, list(sets), base=overrides)


def machine_info() -> dict[str, Any]:
    import torch

    cpu = cpu_model()
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
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
    jobs: int = 1,
    config_file: Path | None = None,
) -> dict[str, Any]:
    """Run (or resume) the comparison; ``sets`` are ``KEY=VALUE`` config overrides applied to
    every run (e.g. ``domain.options.answers=solver``), recorded in the result, over
    ``config_file`` (a run configuration or preset, default soar-mini's built-ins). ``jobs > 1``
    runs that many seeds at once in separate processes (one torch thread each): the seeds
    share nothing but the hard set, so on 2 cores 2 jobs nearly halve the wall time."""

    size = size or BenchSize()
    console = console or Console()
    out_dir.mkdir(parents=True, exist_ok=True)
    spent = _check_manifest(out_dir, domain, size, sets, config_file)
    t_start = time.perf_counter()
    ctx = _SeedContext(
        out_dir, domain, size, sets, console, config_file
    )  # mines the hard set if needed

    todo = [s for s in range(size.seeds) if not (out_dir / f"seed-{s}.json").exists()]
    with make_progress(console) as progress:
        task = progress.add_task("bench seeds", total=size.seeds, completed=size.seeds - len(todo))
        if jobs > 1 and len(todo) > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            workers = min(jobs, len(todo))
            threads = max(1, (os.cpu_count() or 1) // workers)
            console.print(
                f"{len(todo)} seed(s) in {workers} processes, {threads} torch thread(s) each; "
                f"each logs to {escape(str(out_dir))}/seed-<n>.log"
            )
            with ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn")
            ) as pool:
                futures = [
                    pool.submit(
                        _seed_worker, out_dir, domain, size, tuple(sets), s, threads, config_file
                    )
                    for s in todo
                ]
                for future in as_completed(futures):
                    future.result()  # a failed seed stops the bench; finished seeds are kept
                    _record_spent(out_dir, spent + time.perf_counter() - t_start)
                    progress.advance(task)
        else:
            for s in todo:
                _run_seed(ctx, s)
                _record_spent(out_dir, spent + time.perf_counter() - t_start)
                progress.advance(task)
    per_seed = [json.loads((out_dir / f"seed-{s}.json").read_text()) for s in range(size.seeds)]

    summary = _aggregate(per_seed, size, ctx.hard, domain, sets, model=ctx.config.model.name)
    if config_file is not None:
        summary["config"] = str(config_file)
    elapsed = time.perf_counter() - t_start
    # every invocation's time, so a bench finished by a resume reports what it cost in all
    summary["wall_seconds"] = round(spent + elapsed, 1)
    summary["this_invocation_seconds"] = round(elapsed, 1)
    _record_spent(out_dir, spent + elapsed)
    summary["jobs"] = jobs
    summary["machine"] = machine_info()
    atomic_write_text(out_dir / "result.json", json.dumps(summary, indent=2))
    _plot(summary, out_dir / "result.png")
    atomic_write_text(out_dir / "result.md", results_markdown(summary))
    console.print(results_table(summary))
    return summary


def _check_manifest(
    out_dir: Path,
    domain: str,
    size: BenchSize,
    sets: Sequence[str],
    config_file: Path | None = None,
) -> float:
    """A folder holds one comparison: resuming it with other sizes or overrides would mix
    seeds of two different benches in one table, so that is refused, naming the difference.
    Returns the seconds earlier invocations spent on it (a resumed bench reports the total)."""
    manifest = out_dir / "bench.json"
    want: dict[str, Any] = {"domain": domain, "size": asdict(size), "overrides": list(sets)}
    if config_file is not None:
        # the file's content, not its name: an edited preset is another bench
        path, _ = resolve_config_path(config_file)
        want["config"] = {"name": str(config_file), "text": path.read_text(encoding="utf-8")}
    spent = 0.0
    if manifest.exists():
        have = json.loads(manifest.read_text())
        spent = float(have.get("seconds", 0.0))
        # a resumed bench may ask for more seeds; everything else must match
        have.get("size", {}).pop("seeds", None)
        same = {**want, "size": {k: v for k, v in want["size"].items() if k != "seeds"}}
        keys = [*same, *(k for k in have if k not in same and k != "seconds")]
        diff = [k for k in keys if have.get(k) != same.get(k)]
        if diff:
            raise ConfigError(
                f"{out_dir}: holds a bench with other {', '.join(diff)} ({manifest}); "
                "use another --out, or the same settings to resume it"
            )
    elif any(out_dir.glob("seed-*.json")):
        raise ConfigError(
            f"{out_dir}: holds seed results of a bench whose settings were not recorded "
            "(no bench.json); use another --out"
        )
    atomic_write_text(manifest, json.dumps({**want, "seconds": spent}, indent=2))
    return spent


def _record_spent(out_dir: Path, seconds: float) -> None:
    """Seconds spent on this bench so far, kept as each seed finishes: a kill loses at most
    the unfinished seed's time from the total."""
    manifest = out_dir / "bench.json"
    data = json.loads(manifest.read_text())
    atomic_write_text(manifest, json.dumps({**data, "seconds": round(seconds, 1)}, indent=2))


class _SeedContext:
    """What every seed of one bench shares, once per process: the config, the hard set, the
    base model (and its weights to restore) and the untrained teacher."""

    base_state: dict[str, Any]  # set when ``base`` loads

    def __init__(
        self,
        out_dir: Path,
        domain: str,
        size: BenchSize,
        sets: Sequence[str],
        console: Console,
        config_file: Path | None = None,
    ) -> None:
        self.out_dir, self.domain, self.size, self.sets = out_dir, domain, size, list(sets)
        self.console, self.config_file = console, config_file
        self.config = config = _config(domain, size, 0, sets, config_file)
        self.parts = parts = resolve_components(config)
        self.hard_path = out_dir / "hardset.jsonl"
        if self.hard_path.exists():
            self.hard = HardSet.load(self.hard_path, parts.domain)
        else:
            with make_progress(console) as progress:
                self.hard = mine_configured_hard_set(
                    config, self.dom, parts.backend, self.base, progress
                )
            self.hard.save(self.hard_path)

    # the models load on first use: a process that only aggregates (jobs > 1, or a resume of
    # a finished bench) never loads them
    @cached_property
    def base(self) -> Any:
        policy = self._load()
        self.base_state = snapshot_state(policy.model)  # taken before anything trains it
        return policy

    @cached_property
    def teacher0(self) -> Any:
        return self._load()

    @cached_property
    def dom(self) -> Any:
        """The domain with its prompts rendered for the model (its tokenizer's template)."""
        return domain_for(self.config, self.parts.domain, self.base)

    def _load(self) -> Any:
        return load_run_policy(self.config, self.parts.domain)

    def train(self, problems: list[Problem], seed: int) -> None:
        settings = self.config.student.rl.model_copy(update={"steps": self.size.train_steps})
        train_on(self.dom, self.parts.trainer, self.base, problems, settings, seed)

    def score(self, seed: int) -> dict[str, float]:

        return pass_at_ks(
            self.dom,
            self.base,
            self.parts.backend,
            self.hard.test,
            samples=self.size.samples,
            max_new_tokens=self.config.student.rl.sampling.max_new_tokens,
            seed=derive_seed(seed, "bench-score"),
        )

    def teacher_questions(self, teacher: Any, seed: int) -> list[Problem]:
        params = SamplingParams.from_config(
            self.config.teacher.rl.sampling, seed=derive_seed(seed, "bench-questions")
        )
        batch = sample_problems(
            self.dom,
            teacher,
            self.parts.backend,
            count=self.size.questions,
            params=params,
            rng=random.Random(derive_seed(seed, "bench-prompts")),
            max_tries=self.size.questions * self.config.teacher.max_resample_factor,
            id_prefix="bench",
        )
        return [s.problem for s in batch.samples]

    def restore_base(self) -> None:
        base = self.base  # loads it (and snapshots base_state) on first use
        restore_state(base.model, self.base_state)


def _seed_worker(
    out_dir: Path,
    domain: str,
    size: BenchSize,
    sets: tuple[str, ...],
    seed: int,
    threads: int,
    config_file: Path | None = None,
) -> None:
    """One seed in a spawned process; its console output goes to a log file in the out folder."""
    import torch

    torch.set_num_threads(threads)
    log = out_dir / f"seed-{seed}.log"
    with log.open("a", encoding="utf-8") as fh:
        console = Console(file=fh, width=120, force_terminal=False)
        _run_seed(_SeedContext(out_dir, domain, size, sets, console, config_file), seed)


def _run_seed(ctx: _SeedContext, s: int) -> dict[str, Any]:
    """Both SOAR runs of seed ``s`` (resumed where they stopped), then every method trained
    and scored; written to ``seed-<s>.json`` only when complete."""

    out_dir, size, config = ctx.out_dir, ctx.size, ctx.config
    t_seed = time.perf_counter()
    runs: dict[str, Path] = {}
    cfg = config
    for reward in ("grounded", "learnability"):
        run_dir = out_dir / "runs" / f"{reward}-s{s}"
        cfg = _config(
            ctx.domain,
            size,
            s,
            ctx.sets,
            ctx.config_file,
            **{
                "meta.reward": reward,
                "hardset.path": str(ctx.hard_path),
                "run_dir": str(run_dir),
            },
        )
        resume = (run_dir / "state.json").exists()
        if not (run_dir / "summary.json").exists():
            run_soar(cfg, resume=resume, console=ctx.console)
        runs[reward] = run_dir
    result: dict[str, Any] = {
        "seed": s,
        "pass": {},
        "diversity": {},
        "diversity_kernel": config.meta.diversity,
    }
    hard_train = list(ctx.hard.train)

    ctx.restore_base()
    result["pass"]["base"] = ctx.score(s)
    ctx.restore_base()
    ctx.train(hard_train, derive_seed(s, "hard-only", 1))
    ctx.train(hard_train, derive_seed(s, "hard-only", 2))
    result["pass"]["hard-only"] = ctx.score(s)

    teachers = {
        "base-T": ctx.teacher0,
        "intrinsic-T": _final_teacher(runs["learnability"], cfg),
        "grounded-T": _final_teacher(runs["grounded"], cfg),
    }
    for method, teacher in teachers.items():
        questions = ctx.teacher_questions(teacher, derive_seed(s, method))
        result["diversity"][method] = diversity(
            [q.question for q in questions], config.meta.diversity
        )
        # where the domain knows them: levels posed, teacher answers right
        result.setdefault("posed", {})[method] = posed_summary(questions)
        ctx.restore_base()
        ctx.train(questions, derive_seed(s, method, 1))
        ctx.train(hard_train, derive_seed(s, method, 2))
        result["pass"][method] = ctx.score(s)

    grounded = RunStore(runs["grounded"])
    state = grounded.load_state() or {}
    if state.get("baseline"):
        ps = load_checkpoint(grounded.checkpoint_dir(state["baseline"]), cfg)
        restore_state(ctx.base.model, snapshot_state(ps.model))
        result["pass"]["PS"] = ctx.score(s)
    pq = load_pq(grounded, ctx.dom)
    result["pq_size"] = len(pq)
    result["promotions"] = len(state.get("promotions", []))
    result["grounded_rewards"] = _reward_trace(grounded)
    if pq:
        ctx.restore_base()
        ctx.train(pq, derive_seed(s, "pq", 1))
        ctx.train(hard_train, derive_seed(s, "pq", 2))
        result["pass"]["PQ"] = ctx.score(s)
    result["seconds"] = round(time.perf_counter() - t_seed, 1)
    atomic_write_text(out_dir / f"seed-{s}.json", json.dumps(result, indent=2))
    return result


def _reward_trace(store: RunStore) -> list[dict[str, Any]]:
    """Per outer step of a SOAR run: its dataset rewards and whether it promoted (the reading
    of a result needs them: a teacher with all-zero rewards did not learn)."""
    return [
        {
            "step": row["step"],
            "rewards": [round(r, 4) for r in row["rewards"]],
            "promoted": row.get("promoted") is not None,
            "levels_posed": row.get("levels_posed"),
        }
        for row in store.metrics()
        if "rewards" in row
    ]


def _final_teacher(run_dir: Path, config: RunConfig) -> Any:
    state = RunStore(run_dir).load_state() or {}
    return load_checkpoint(RunStore(run_dir).checkpoint_dir(state["teacher"]), config)


def _aggregate(
    per_seed: list[dict[str, Any]],
    size: BenchSize,
    hard: HardSet,
    domain: str,
    sets: Sequence[str] = (),
    model: str = "soar-mini",
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
    top = f"pass@{max(k for k in KS if k <= size.samples)}"
    paired = {}
    for a, b in PAIRS:
        both = [r["pass"] for r in per_seed if a in r["pass"] and b in r["pass"]]
        if both:
            stats = paired_difference([x[a][top] for x in both], [x[b][top] for x in both])
            paired[f"{a} - {b}"] = {"k": top, **stats}
    diversity = {
        m: statistics.fmean(r["diversity"][m] for r in per_seed)
        for m in ("base-T", "intrinsic-T", "grounded-T")
        if all(m in r["diversity"] for r in per_seed)
    }
    return {
        "domain": domain,
        "model": model,
        "size": asdict(size),
        "overrides": list(sets),
        "hard_train": len(hard.train),
        "hard_test": len(hard.test),
        "methods": methods,
        "paired": paired,
        "diversity": diversity,
        "promotions": [r.get("promotions", 0) for r in per_seed],
        "pq_sizes": [r.get("pq_size", 0) for r in per_seed],
        "seed_seconds": [r["seconds"] for r in per_seed],
        "per_seed": per_seed,
    }


def _model(summary: dict[str, Any]) -> str:
    return str(summary.get("model", "soar-mini"))


def results_table(summary: dict[str, Any]) -> Table:
    ks = [f"pass@{k}" for k in KS if k <= summary["size"]["samples"]]
    table = Table(
        title=f"{_model(summary)} on {summary['domain']}: pass@k on {summary['hard_test']} "
        "hard test "
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
        f"{_model(summary)} on {summary['domain']}: pass@k on {summary['hard_test']} hard test "
        "problems "
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
    if summary.get("paired"):
        lines += [
            "",
            "Seed-paired differences (a − b per seed; p: exact two-sided sign-flip test over "
            "the 2^n sign patterns of the differences, no distribution assumed):",
            "",
            "| a − b | k | seeds | mean | sd | wins / ties / losses | t | p |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, d in summary["paired"].items():
            lines.append(
                f"| {name} | {d['k']} | {d['n']} | {d['mean']:+.3f} | {d['sd']:.3f} | "
                f"{d['wins']} / {d['ties']} / {d['losses']} | {d['t']:.2f} | {d['p']:.3f} |"
            )
        per = summary["per_seed"]
        top = next(iter(summary["paired"].values()))["k"]
        lines += ["", f"{top} per seed:", ""]
        lines += ["| method | " + " | ".join(f"s{r['seed']}" for r in per) + " |"]
        lines += ["|---|" + "---|" * len(per)]
        for method in METHODS:
            cells = [f"{r['pass'][method][top]:.3f}" if method in r["pass"] else "n/a" for r in per]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Promotions per seed: {summary['promotions']}; PQ sizes: {summary['pq_sizes']}; "
        f"seconds per seed: {summary['seed_seconds']}.",
        "",
        "What each teacher posed (levels, per seed) and how often its own answer was right:",
        "",
    ]
    pooled = _pooled_levels(summary["per_seed"])
    if pooled:
        levels = sorted({lv for counts in pooled.values() for lv in counts}, key=int)
        lines[-2:-2] = [
            "Levels posed by each teacher, all seeds pooled (share of its questions; the "
            "untrained teacher is Base-T's):",
            "",
            "| teacher | " + " | ".join(f"level {lv}" for lv in levels) + " |",
            "|---|" + "---|" * len(levels),
            *(
                f"| {method} | "
                + " | ".join(
                    f"{counts.get(lv, 0) / max(1, sum(counts.values())):.0%}" for lv in levels
                )
                + " |"
                for method, counts in pooled.items()
            ),
            "",
        ]
    for r in summary["per_seed"]:
        for method, posed in sorted(r.get("posed", {}).items()):
            lines.append(
                f"- seed {r['seed']}, {method}: levels {posed.get('levels_posed', {})}, "
                f"answers right {posed.get('teacher_answer_accuracy', float('nan')):.0%}"
            )
    traces = [r for r in summary["per_seed"] if r.get("grounded_rewards")]
    if traces:
        lines += [
            "",
            "Grounded SOAR runs, mean reward of the g datasets per outer step (* = promoted):",
            "",
        ]
        for r in traces:
            cells = [
                f"{statistics.fmean(row['rewards']):+.3f}{'*' if row['promoted'] else ''}"
                for row in r["grounded_rewards"]
            ]
            lines.append(f"- seed {r['seed']}: {', '.join(cells)}")
    lines += ["", f"Sizes: `{json.dumps(summary['size'])}`"]
    if summary.get("overrides"):
        lines += ["", f"Config overrides: `{' '.join(summary['overrides'])}`"]
    lines += [""]
    return "\n".join(lines)


def _pooled_levels(per_seed: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Question counts per level for each teacher, summed over seeds: a shift of the trained
    teachers away from the untrained one is what teacher learning looks like (SOAR.md)."""
    pooled: dict[str, dict[str, int]] = {}
    for r in per_seed:
        for method, posed in sorted(r.get("posed", {}).items()):
            counts = pooled.setdefault(method, {})
            for lv, c in posed.get("levels_posed", {}).items():
                counts[lv] = counts.get(lv, 0) + c
    return {m: c for m, c in pooled.items() if c}


def _plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    traces = [r for r in summary["per_seed"] if r.get("grounded_rewards")]
    fig, axes = plt.subplots(
        1, 2 if traces else 1, figsize=(12 if traces else 7, 4.5), constrained_layout=True
    )
    ax = axes[0] if traces else axes
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
        title=f"{_model(summary)} ({summary['domain']}): SOAR comparison",
    )
    ax.legend(fontsize=8)
    if traces:
        # why Grounded-T/PS/PQ look as they do: the teacher's reward, and when it promoted
        rx = axes[1]
        for r in traces:
            steps = [row["step"] + 1 for row in r["grounded_rewards"]]
            means = [statistics.fmean(row["rewards"]) for row in r["grounded_rewards"]]
            (line,) = rx.plot(steps, means, marker="o", label=f"seed {r['seed']}")
            promo = [
                (x, y)
                for x, y, row in zip(steps, means, r["grounded_rewards"], strict=True)
                if row["promoted"]
            ]
            if promo:
                rx.scatter(
                    *zip(*promo, strict=True), s=120, facecolors="none", edgecolors=line.get_color()
                )
        rx.axhline(0.0, color="grey", lw=0.8)
        rx.xaxis.set_major_locator(MaxNLocator(integer=True))
        rx.set(
            xlabel="outer step",
            ylabel="mean grounded reward of the g datasets",
            title="grounded SOAR runs (circled: a promotion)",
        )
        rx.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
