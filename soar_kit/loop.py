"""The SOAR outer loop (SOAR.md), readable top to bottom: the algorithm and nothing else.

    hard set  <- fail@k problems of the base student, split train/test
    for each outer step:
        1. the teacher samples g*n problems (malformed -> resampled), split into X_1..X_g
        2. for each X_k: r students, each reset to the baseline, trained by RL on X_k
        3. R(X_k) = mean over students of Acc(student, Q_R) - Acc(baseline, Q_R),
           Q_R a fresh sample of the hard train part (or another registered reward scheme)
        4. the teacher takes an RLOO step over the g datasets
        5. promotion: if the moving average of the mean reward exceeds tau, the median student
           of the best dataset becomes the baseline and X_best joins the promotion questions
    finally the baseline (the promoted student) is evaluated on the hard test part

:func:`outer_step` is one pass of the loop body; :func:`run_soar` sets a run up, commits each
step and evaluates at the end. Everything random derives from (seed, step, purpose), and every
step ends with one atomic commit of the :class:`~soar_kit.runstore.RunState`, so a killed run
resumes exactly where it stopped.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from soar_kit.components import Components, domain_for, load_run_policy, resolve_components
from soar_kit.config import RunConfig, derive_seed
from soar_kit.contracts.backend import GenerationBackend, SamplingParams
from soar_kit.contracts.executor import Executor, InnerContext
from soar_kit.contracts.model import Policy
from soar_kit.diversity import check_available, diversity
from soar_kit.errors import ConfigError, InvalidInput, SoarKitError
from soar_kit.hardset import HardSet, mine_configured_hard_set
from soar_kit.lm.memory import check_training_fits, check_update_precision
from soar_kit.lm.weights import snapshot_state
from soar_kit.machine import peak_rss_bytes
from soar_kit.metrics import moving_average
from soar_kit.progress import make_progress
from soar_kit.report import write_report
from soar_kit.runstore import (
    RunState,
    RunStore,
    atomic_write_text,
    load_checkpoint,
    save_checkpoint,
    write_jsonl,
)
from soar_kit.scoring import pass_at_ks
from soar_kit.students import StepProbe, StudentGains, StudentPool, median_student, run_job_here
from soar_kit.teacher import TeacherUpdater, posed_summary, sample_problems, split_datasets

#: Diversity (Vendi score) below this fraction of the first step's value triggers a warning.
COLLAPSE_RATIO = 0.5


@dataclass
class Run:
    """What every outer step of one run works with; only the weights inside change."""

    config: RunConfig
    parts: Components
    teacher: Policy
    updater: TeacherUpdater
    pool: StudentPool  # the one working student, reset to the baseline for each use
    hard: HardSet
    model_dir: Path | None  # a saved copy of the model for remote workers (or None)
    progress: Progress


# -- the algorithm ------------------------------------------------------------------------------


def outer_step(run: Run, state: RunState) -> dict[str, Any]:
    """Steps 1-5 of one outer step; returns its metrics row (``promoted`` still holds the
    promoted dataset's problems, and the promoted student is in the working model)."""
    config, parts, progress, meta = run.config, run.parts, run.progress, run.config.meta
    step = state.step
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    # 1. the teacher writes g*n problems
    count = meta.g * meta.n
    task = progress.add_task("  teacher writes problems", total=count)
    batch = sample_problems(
        parts.domain,
        run.teacher,
        parts.backend,
        count=count,
        params=SamplingParams.from_config(
            config.teacher.rl.sampling, seed=derive_seed(config.seed, step, "teacher")
        ),
        rng=random.Random(derive_seed(config.seed, step, "teacher-prompts")),
        max_tries=count * config.teacher.max_resample_factor,
        id_prefix=f"s{step}",
        on_accept=lambda n: progress.advance(task, n),
    )
    progress.remove_task(task)
    datasets = split_datasets(batch.samples, meta.g, meta.n)
    timings["teacher_sampling"] = time.perf_counter() - t0

    # 2-3. rewards of the g datasets (students are trained only if the scheme asks)
    t1 = time.perf_counter()
    qr_rng = random.Random(derive_seed(config.seed, step, "qr"))
    qr = qr_rng.sample(run.hard.train, min(meta.qr_size, len(run.hard.train)))
    ctx = InnerContext(
        config=config,
        step=step,
        qr=qr,
        domain=parts.domain,
        trainer=parts.trainer,
        backend=parts.backend,
        student=run.pool.baseline(),
        baseline_state=run.pool.snapshot,
        model_dir=run.model_dir,
        # LoRA students on remote workers also need the frozen base the adapters sit on
        base_state=run.pool.base_weights() if run.pool.partial and run.model_dir else None,
    )
    gains = StudentGains(ctx, run.pool, parts.executor, datasets, progress)
    rewards = [
        float(
            parts.scheme.dataset_reward(
                StepProbe(ctx, run.pool, k, ds, partial(gains.for_dataset, k))
            )
        )
        for k, ds in enumerate(datasets)
    ]
    timings["rewards"] = time.perf_counter() - t1

    # 4. teacher update: RLOO over the g datasets
    t2 = time.perf_counter()
    update = run.updater.update(datasets, rewards)
    timings["teacher_update"] = time.perf_counter() - t2

    # 5. promotion
    mean_reward = sum(rewards) / len(rewards)
    state.history.append(mean_reward)
    avg = moving_average(state.history, meta.window)
    promoted: dict[str, Any] | None = None
    if gains.gains is not None and avg > meta.tau:
        best = max(range(meta.g), key=lambda k: (rewards[k], -k))
        pick = median_student(gains.gains[best])
        chosen = gains.results[best * meta.r + pick]
        retrained_gain = None
        if chosen.state is not None:
            run.pool.load(chosen.state)  # a LoRA student came back whole: take it as it is
        else:
            # retrain the chosen student from its seed (deterministic), instead of having kept
            # g*r trained copies around; its measured gain is logged next to the original one
            t3 = time.perf_counter()
            acc = run_job_here(ctx, gains.job(best, pick)).accuracy
            timings["promotion_retrain"] = time.perf_counter() - t3
            retrained_gain = acc - (gains.baseline_accuracy or 0.0)
        promoted = {
            "dataset": best,
            "student": pick,
            "gain": gains.gains[best][pick],
            "retrained_gain": retrained_gain,
            "problems": [
                {**s.problem.model_dump(mode="json"), "step": step, "reward": rewards[best]}
                for s in datasets[best]
            ],
        }
        state.promotions.append({"step": step, "dataset": best, "student": pick})
        # the baseline changed: rewards measured against the old one no longer apply
        state.history = []

    questions = [s.problem.question for s in batch.samples]
    row = {
        "step": step,
        "rewards": rewards,
        "mean_reward": mean_reward,
        "moving_average": avg,
        "baseline_qr_accuracy": gains.baseline_accuracy,
        "student_gains": gains.gains or [],
        # each student's mean training reward per RL step: whether the students learn at all
        "student_train_rewards": [list(r.train_rewards) for r in gains.results],
        "promoted": promoted,
        "accepted": len(batch.samples),
        "tried": batch.tried,
        "acceptance": batch.acceptance,
        "rejections": dict(batch.rejections),
        "diversity": diversity(questions, meta.diversity),
        "diversity_kernel": meta.diversity,
        **posed_summary([x.problem for x in batch.samples]),
        # per dataset, next to its reward: which posed content the teacher's RLOO step favours
        "dataset_posed": [posed_summary([x.problem for x in ds]) for ds in datasets],
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "seconds": round(time.perf_counter() - t0, 2),
        **update,
    }
    # one reference per kernel: a run resumed with another kernel must not mix their scales
    first = state.first_diversity.setdefault(meta.diversity, row["diversity"])
    row["diversity_collapse"] = bool(first and row["diversity"] < COLLAPSE_RATIO * first)
    return row


def run_soar(config: RunConfig, *, resume: bool = False, console: Console | None = None) -> Path:
    """Run (or resume) SOAR; returns the run directory. Results are kept if a step fails."""
    import torch

    console = console or Console()
    parts = resolve_components(config)
    run_dir = config.run_dir or default_run_dir(config)
    store = RunStore(run_dir)
    state = store.run_state()
    if state is not None and not resume:
        raise ConfigError(
            f"run directory {run_dir} already holds a run: pass --resume or pick another"
        )
    if resume and state is None and store.config_path.exists():
        console.print(f"[yellow]{escape(str(run_dir))}: no finished step yet, starting over[/]")
    config = config.model_copy(update={"run_dir": run_dir})
    atomic_write_text(store.config_path, config.to_toml())
    if config.hardset.path is not None and not config.hardset.path.exists():
        # fail before minutes of model loading; the config written above is kept
        raise InvalidInput(
            f"hardset.path: hard set file {config.hardset.path} does not exist "
            "(make one with: soarkit hardset)"
        )
    check_available(config.meta.diversity)  # an embedding kernel's package, before model loading
    torch.manual_seed(config.seed)
    t_start = time.perf_counter()

    state = state or RunState()
    store.truncate_metrics(state.step)
    with make_progress(console) as progress, _closing(parts.executor), _closing(parts.backend):
        run = _set_up(config, parts, store, state, progress)
        base_state = run.pool.base_weights()  # the base student, for the final comparison
        if state.baseline:
            promoted = load_checkpoint(store.checkpoint_dir(state.baseline), config)
            run.pool.set_base_weights(snapshot_state(promoted.model))
            del promoted

        outer = progress.add_task("SOAR outer steps", total=config.meta.outer_steps)
        progress.update(outer, completed=state.step)
        while state.step < config.meta.outer_steps:
            row = outer_step(run, state)
            _commit_step(run, store, state, row)
            progress.advance(outer)
            _print_step(console, row)

        summary = _final_eval(run, base_state)
    summary["wall_seconds_this_invocation"] = round(time.perf_counter() - t_start, 1)
    summary["promotions"] = len(state.promotions)
    summary["pq_size"] = len(state.pq)
    summary["peak_rss_mb"] = round(peak_rss_bytes() / 2**20)
    if parts.backend.stats():
        summary["backend"] = {"name": parts.backend.name, **parts.backend.stats()}
    summary["outcome"] = outcome_text(summary, state, config.meta.tau)
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    _print_summary(console, run_dir, summary)
    try:
        report = write_report(run_dir)
        plots = f"plots and summary: {report / 'progress.png'}, {report / 'summary.md'}"
    except Exception as exc:  # the run's data is safe; a plotting problem must not hide it
        plots = f"report not written ({type(exc).__name__}: {exc})"
    console.print(escape(f"{summary['outcome']} {plots}"), highlight=False)
    return run_dir


def outcome_text(summary: dict[str, Any], state: RunState, tau: float) -> str:
    """What the run did, in words: a newcomer reads this line, not the metrics log."""
    n = len(state.promotions)
    if n == 0:
        head = (
            "No student was promoted: the moving average of the teacher's reward never rose "
            f"above tau={tau:g}, so the final student is the base model."
        )
    else:
        steps = ", ".join(str(p["step"] + 1) for p in state.promotions)
        head = f"{n} student{'s were' if n > 1 else ' was'} promoted (outer step {steps})."
    k = max(summary["base"], key=lambda name: int(name.split("@")[1]))
    base, promoted = summary["base"][k], summary["promoted"][k]
    return (
        f"{head} On the {summary['hard_test']} held-out hard problems the final student's {k} "
        f"is {promoted:.3f} against the base's {base:.3f} ({promoted - base:+.3f})."
    )


def _final_eval(run: Run, base_state: dict[str, Any]) -> dict[str, Any]:
    """Greedy accuracy and pass@k on the hard test part: base student vs promoted student."""
    config, hard, progress = run.config, run.hard, run.progress
    sampling = config.student.rl.sampling
    out: dict[str, Any] = {"hard_train": len(hard.train), "hard_test": len(hard.test)}
    task = progress.add_task("evaluating on hard test", total=2)
    for label, weights in (("base", base_state), ("promoted", run.pool.base_weights())):
        run.pool.set_base_weights(weights)
        student = run.pool.baseline()
        scores = pass_at_ks(
            run.parts.domain,
            student,
            run.parts.backend,
            hard.test,
            samples=32,
            max_new_tokens=sampling.max_new_tokens,
            seed=derive_seed(config.seed, "final-eval"),
            top_p=sampling.top_p,
        )
        out[label] = {k: round(v, 4) for k, v in scores.items()}
        progress.advance(task)
    progress.remove_task(task)
    return out


# -- setting a run up and committing its steps ---------------------------------------------------


def _set_up(
    config: RunConfig, parts: Components, store: RunStore, state: RunState, progress: Progress
) -> Run:
    """Models, the hard set and the teacher's optimizer, from scratch or from the last commit."""
    import torch

    task = progress.add_task("loading models", total=None)
    base = load_run_policy(config, parts.domain)
    parts.domain = domain_for(config, parts.domain, base)
    if state.teacher:
        teacher = load_checkpoint(store.checkpoint_dir(state.teacher), config)
    else:
        teacher = load_run_policy(config, parts.domain)
    if config.student.mode == "lora":
        # adapters on the base model itself, seeded by the run alone (same after a resume)
        lora_seed = derive_seed(config.seed, "lora-init")
        pool = StudentPool(base, mode="lora", lora=config.student.lora, lora_seed=lora_seed)
    else:
        # "shared": the base model itself is the working student (1 model + 1 weight snapshot)
        pool = StudentPool(base, mode="shared")
    _check_training(config, parts, pool.baseline(), teacher.model)
    # engines claim their memory before any trainer or optimizer allocates its own
    parts.backend.prepare([pool.baseline(), teacher])
    progress.remove_task(task)

    model_dir = None
    if parts.executor.needs_model_dir:
        # remote workers rebuild students from this copy (architecture, tokenizer)
        model_dir = store.root / "model"
        if not (model_dir / "config.json").exists():
            staging = store.staging_dir("model")
            baseline, weights = pool.saveable()
            baseline.model.save_pretrained(staging, state_dict=weights, safe_serialization=True)
            baseline.tokenizer.save_pretrained(staging)
            if model_dir.exists():
                import shutil

                shutil.rmtree(model_dir)
            staging.rename(model_dir)

    hard = _hard_set(config, parts, pool.baseline(), store, state, progress)
    updater = TeacherUpdater.from_config(teacher, config.teacher.rl)
    if state.teacher:
        opt = store.checkpoint_dir(state.teacher) / "optimizer.pt"
        updater.load_state_dict(torch.load(opt, weights_only=False))
    return Run(config, parts, teacher, updater, pool, hard, model_dir, progress)


def _check_training(config: RunConfig, parts: Components, student: Policy, teacher: Any) -> None:
    """Precision and memory of both trainings, refused in one line before any work (a LoRA
    student counts its adapters as what trains)."""
    meta = config.meta
    prompt = parts.domain.teacher_prompt(random.Random(0))
    prompt_tokens = len(student.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    for field, model, rl, rows, default in (
        (
            "student.rl",
            student.model,
            config.student.rl,
            config.student.rl.batch_size * config.student.rl.group_size,
            64,
        ),
        (
            "teacher.rl",
            teacher,
            config.teacher.rl,
            meta.g * meta.n,
            config.teacher.rl.batch_size * 4,
        ),
    ):
        check_update_precision(model, rl.lr, f"{field}.lr")
        micro = min(rows, rl.micro_batch or default)
        check_training_fits(model, rl, field, prompt_tokens=prompt_tokens, micro_batch=micro)


def _hard_set(
    config: RunConfig,
    parts: Components,
    base: Policy,
    store: RunStore,
    state: RunState,
    progress: Progress,
) -> HardSet:
    domain = parts.domain
    if config.hardset.path is not None:
        return HardSet.load(config.hardset.path, domain)
    if state.hardset and store.hardset_path.exists():
        return HardSet.load(store.hardset_path, domain)
    hard = mine_configured_hard_set(config, domain, parts.backend, base, progress)
    hard.save(store.hardset_path)
    state.hardset = True
    store.commit_state(state)
    return hard


def _commit_step(run: Run, store: RunStore, state: RunState, row: dict[str, Any]) -> None:
    """Checkpoints first, then the state that names them, then prune the rest."""
    step = state.step
    promoted = row["promoted"]
    teacher_name = f"teacher-{step + 1}"
    save_checkpoint(store, run.teacher, teacher_name, {"optimizer": run.updater.state_dict()})
    if promoted is not None:
        # the promoted student was just retrained into the working model
        run.pool.promote_current()
        baseline, weights = run.pool.saveable()
        save_checkpoint(store, baseline, f"baseline-{step + 1}", {}, state=weights)
        state.baseline = f"baseline-{step + 1}"
        state.pq.extend(promoted.pop("problems"))
        row["promoted"] = promoted
    write_jsonl(store.pq_path, state.pq)
    store.append_metrics(row)
    state.teacher = teacher_name
    state.step = step + 1
    store.commit_state(state)
    store.prune_checkpoints([state.teacher, state.baseline or ""])


@contextmanager
def _closing(thing: Executor | GenerationBackend) -> Iterator[Any]:
    try:
        yield thing
    finally:
        thing.close()


def default_run_dir(config: RunConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.domain.name}-{config.meta.reward}-s{config.seed}-{stamp}"


def _print_step(console: Console, row: dict[str, Any]) -> None:
    promo = row["promoted"]
    promo_text = f" [bold green]promoted X_{promo['dataset'] + 1}[/]" if promo else ""
    warn = " [yellow]diversity collapsing[/]" if row["diversity_collapse"] else ""
    console.print(
        f"step {row['step'] + 1}: rewards {', '.join(f'{r:+.3f}' for r in row['rewards'])} "
        f"| avg {row['moving_average']:+.3f} | accepted {row['accepted']}/{row['tried']} "
        f"| diversity {row['diversity']:.1f} | {row['seconds']:.0f}s{promo_text}{warn}",
        highlight=False,
    )


def _print_summary(console: Console, run_dir: Path, summary: dict[str, Any]) -> None:
    table = Table(
        title=f"hard test ({summary['hard_test']} problems): pass@k", title_justify="left"
    )
    table.add_column("student")
    ks = list(summary["base"])
    for k in ks:
        table.add_column(k, justify="right")
    for label in ("base", "promoted"):
        table.add_row(label, *(f"{summary[label][k]:.3f}" for k in ks))
    console.print(table)
    console.print(
        f"promotions: {summary['promotions']}  PQ size: {summary['pq_size']}  "
        f"peak RSS: {summary['peak_rss_mb']} MB  run: {escape(str(run_dir))}"
    )


__all__ = ["Run", "SoarKitError", "derive_seed", "median_student", "outer_step", "run_soar"]
