"""The SOAR outer loop (SOAR.md), readable top to bottom.

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

Everything random derives from (seed, step, purpose), and every step ends with one atomic
commit of the run state, so a killed run resumes exactly where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from soar_kit.config import RunConfig
from soar_kit.diversity import check_available, diversity
from soar_kit.domain import Domain
from soar_kit.errors import ConfigError, InvalidInput, SoarKitError, UnknownNameError
from soar_kit.executors import (
    Executor,
    InnerContext,
    StudentJob,
    qr_accuracy,
    run_job_here,
)
from soar_kit.generation import GenerationBackend, SamplingParams
from soar_kit.hardset import MINI_PREFIX, HardSet, candidate_problems, mine_hard_set, success_counts
from soar_kit.metrics import moving_average
from soar_kit.models import ModelSource, Policy, pick_source
from soar_kit.plugins import get_manager
from soar_kit.records import Problem
from soar_kit.rewards import RewardScheme
from soar_kit.runstore import RunStore, atomic_write_text, write_jsonl
from soar_kit.teacher import TeacherSample, TeacherUpdater, sample_problems, split_datasets
from soar_kit.training import StudentTrainer

#: Diversity (Vendi score) below this fraction of the first step's value triggers a warning.
COLLAPSE_RATIO = 0.5


def derive_seed(seed: int, *parts: object) -> int:
    """A stable 31-bit seed for one purpose; the same (seed, parts) always gives the same value."""
    text = json.dumps([seed, *[str(p) for p in parts]])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF


# -- components ---------------------------------------------------------------------------------


@dataclass
class Components:
    domain: Domain
    backend: GenerationBackend
    trainer: StudentTrainer
    scheme: RewardScheme
    source: ModelSource
    executor: Executor


def resolve_components(config: RunConfig) -> Components:
    """Look every plugin up before any work, so a typo fails in the first second."""
    manager = get_manager()
    domain = manager.domain(config.domain.name).with_options(config.domain.options)
    backend = manager.get("backend", config.backend.name).with_options(config.backend.options)
    trainer = manager.get("trainer", config.student.trainer)
    scheme = manager.get("reward", config.meta.reward)
    executor = manager.get("executor", config.executor.name)
    for kind, obj in (("backend", backend), ("trainer", trainer), ("executor", executor)):
        reason = obj.available()
        if reason:
            raise ConfigError(f"{kind} '{obj.name}' cannot run here: {reason}")
    source = find_model_source(config.model.name)
    return Components(domain, backend, trainer, scheme, source, executor)


def find_model_source(spec: str) -> ModelSource:
    sources = [r.obj for r in get_manager().collect("model").values()]
    try:
        return pick_source(sources, spec)
    except UnknownNameError as exc:
        raise ConfigError(f"model.name: {exc}") from exc


def load_policy(source: ModelSource, config: RunConfig, domain: Domain, spec: str) -> Policy:
    from soar_kit.modeling import resolve_device

    return source.load(
        spec,
        dtype=config.model.dtype,
        device=resolve_device(config.model.device),
        seed=config.model.build_seed,
        domain=domain,
    )


def load_checkpoint(path: Path, config: RunConfig) -> Policy:
    from soar_kit.modeling import load_causal_lm

    model, tokenizer = load_causal_lm(path, dtype=config.model.dtype, device=config.model.device)
    return Policy(model, tokenizer, spec=str(path))


def save_checkpoint(store: RunStore, policy: Policy, name: str, extra: dict[str, Any]) -> None:
    import torch

    staging = store.staging_dir(name)
    policy.model.save_pretrained(staging, safe_serialization=True)
    policy.tokenizer.save_pretrained(staging)
    for key, value in extra.items():
        torch.save(value, staging / f"{key}.pt")
    store.publish(staging, name)


# -- rewards ------------------------------------------------------------------------------------


class DatasetProbe:
    """What a reward scheme may ask about one teacher dataset X_k.

    Student gains are measured for all datasets at once through the executor (the g*r trainings
    are independent, so they can run in parallel) and handed in; success rates are sampled from
    the baseline on first use.
    """

    def __init__(
        self,
        ctx: InnerContext,
        k: int,
        samples: list[TeacherSample],
        gains: Callable[[], list[float]],
    ) -> None:
        self.ctx = ctx
        self.k = k
        self.samples = samples
        self._gains = gains
        self._rates: dict[int, list[float]] = {}

    @property
    def problems(self) -> list[Problem]:
        return [s.problem for s in self.samples]

    def accuracy_gains(self) -> list[float]:
        return self._gains()

    def success_rates(self, samples: int) -> list[float]:
        if samples not in self._rates:
            from soar_kit.modeling import restore_state

            ctx = self.ctx
            restore_state(ctx.student.model, ctx.baseline_state)
            sampling = ctx.config.student.rl.sampling
            params = SamplingParams(
                n=samples,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_new_tokens=sampling.max_new_tokens,
                seed=derive_seed(ctx.config.seed, ctx.step, "rates", self.k),
            )
            counts = success_counts(ctx.domain, ctx.student, ctx.backend, self.problems, params)
            self._rates[samples] = [c / samples for c in counts]
        return self._rates[samples]


class StudentGains:
    """Trains all g*r students of a step through the executor, once, on first request."""

    def __init__(
        self,
        ctx: InnerContext,
        executor: Executor,
        datasets: list[list[TeacherSample]],
        progress: Progress,
    ) -> None:
        self.ctx = ctx
        self.executor = executor
        self.datasets = datasets
        self.progress = progress
        self.baseline_accuracy: float | None = None
        self.jobs: list[StudentJob] = []
        self.gains: list[list[float]] | None = None

    def job(self, k: int, i: int) -> StudentJob:
        cfg = self.ctx.config
        return StudentJob(
            dataset=k,
            student=i,
            problems=tuple(s.problem for s in self.datasets[k]),
            seed=derive_seed(cfg.seed, self.ctx.step, "student", k, i),
        )

    def for_dataset(self, k: int) -> list[float]:
        if self.gains is None:
            self._measure()
        assert self.gains is not None
        return self.gains[k]

    def _measure(self) -> None:
        from soar_kit.modeling import restore_state

        ctx = self.ctx
        r = ctx.config.meta.r
        restore_state(ctx.student.model, ctx.baseline_state)
        self.baseline_accuracy = qr_accuracy(
            ctx.config, ctx.domain, ctx.student, ctx.backend, ctx.qr
        )
        self.jobs = [self.job(k, i) for k in range(len(self.datasets)) for i in range(r)]
        task = self.progress.add_task("  training students", total=len(self.jobs))
        results = self.executor.train_students(
            ctx, self.jobs, on_done=lambda job, result: self.progress.advance(task)
        )
        accs = [result.accuracy for result in results]
        self.progress.remove_task(task)
        base = self.baseline_accuracy
        self.gains = [[accs[k * r + i] - base for i in range(r)] for k in range(len(self.datasets))]


def median_student(gains: Sequence[float]) -> int:
    """Index of the student with the median gain (the lower median for even r), per SOAR.md."""
    order = sorted(range(len(gains)), key=lambda i: (gains[i], i))
    return order[(len(order) - 1) // 2]


# -- the run ------------------------------------------------------------------------------------


def default_run_dir(config: RunConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.domain.name}-{config.meta.reward}-s{config.seed}-{stamp}"


def problem_set_name(config: RunConfig, domain: Domain) -> str:
    if config.hardset.problem_set:
        return config.hardset.problem_set
    if config.model.name == "soar-mini" and domain.mini_world() is not None:
        return f"{MINI_PREFIX}hard"
    if not domain.default_problem_set:
        raise ConfigError(f"hardset.problem_set: domain '{domain.name}' names no default set")
    return domain.default_problem_set


def make_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run_soar(config: RunConfig, *, resume: bool = False, console: Console | None = None) -> Path:
    """Run (or resume) SOAR; returns the run directory. Results are kept if a step fails."""
    import torch

    console = console or Console()
    parts = resolve_components(config)
    domain = parts.domain
    run_dir = config.run_dir or default_run_dir(config)
    store = RunStore(run_dir)
    state = store.load_state()
    if state is not None and not resume:
        raise ConfigError(
            f"run directory {run_dir} already holds a run: pass --resume or pick another"
        )
    if resume and state is None and store.config_path.exists():
        console.print(f"[yellow]{run_dir}: no finished step yet, starting over[/]")
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

    state = state or {"step": 0, "history": [], "promotions": [], "pq": [], "hardset": False}
    store.truncate_metrics(state["step"])
    with make_progress(console) as progress, _closing(parts.executor), _closing(parts.backend):
        # -- models ---------------------------------------------------------------------------
        task = progress.add_task("loading models", total=None)
        base = load_policy(parts.source, config, domain, config.model.name)
        from soar_kit.modeling import snapshot_state

        if state.get("teacher"):
            teacher = load_checkpoint(store.checkpoint_dir(state["teacher"]), config)
        else:
            teacher = load_policy(parts.source, config, domain, config.model.name)
        # engines claim their memory before any trainer or optimizer allocates its own
        parts.backend.prepare([base, teacher])
        student = base  # the one working student model, reset to a baseline per training
        base_state = snapshot_state(base.model)
        baseline_state = (
            snapshot_state(load_checkpoint(store.checkpoint_dir(state["baseline"]), config).model)
            if state.get("baseline")
            else base_state
        )
        progress.remove_task(task)

        model_dir = None
        if parts.executor.needs_model_dir:
            # remote workers rebuild students from this copy (architecture, tokenizer)
            model_dir = run_dir / "model"
            if not (model_dir / "config.json").exists():
                staging = store.staging_dir("model")
                base.model.save_pretrained(staging, safe_serialization=True)
                base.tokenizer.save_pretrained(staging)
                if model_dir.exists():
                    import shutil

                    shutil.rmtree(model_dir)
                staging.rename(model_dir)

        # -- hard set -------------------------------------------------------------------------
        hard = _hard_set(config, parts, base, store, state, progress)
        rl = config.teacher.rl
        updater = TeacherUpdater(
            teacher,
            lr=rl.lr,
            kl=rl.kl,
            weight_decay=rl.weight_decay,
            max_grad_norm=rl.max_grad_norm,
            epochs=rl.steps,
            micro_batch=rl.batch_size * 4,
        )
        if state.get("teacher"):
            opt = store.checkpoint_dir(state["teacher"]) / "optimizer.pt"
            updater.load_state_dict(torch.load(opt, weights_only=False))

        outer = progress.add_task("SOAR outer steps", total=config.meta.outer_steps)
        progress.update(outer, completed=state["step"])
        while state["step"] < config.meta.outer_steps:
            row = _outer_step(
                model_dir,
                config,
                parts,
                teacher,
                student,
                baseline_state,
                hard,
                state,
                updater,
                progress,
            )
            step = state["step"]
            promoted = row["promoted"]
            # commit: checkpoints first, then the state that names them, then prune the rest
            teacher_name = f"teacher-{step + 1}"
            save_checkpoint(store, teacher, teacher_name, {"optimizer": updater.state_dict()})
            if promoted is not None:
                # the promoted student was just retrained into the working model
                baseline_state = snapshot_state(student.model)
                save_checkpoint(store, student, f"baseline-{step + 1}", {})
                state["baseline"] = f"baseline-{step + 1}"
                state["pq"].extend(promoted.pop("problems"))
                row["promoted"] = promoted
            write_jsonl(store.pq_path, state["pq"])
            store.append_metrics(row)
            state["teacher"] = teacher_name
            state["step"] = step + 1
            store.commit_state(state)
            store.prune_checkpoints([state["teacher"], state.get("baseline", "")])
            progress.advance(outer)
            _print_step(console, row)

        # -- final evaluation -----------------------------------------------------------------
        summary = _final_eval(config, parts, student, base_state, baseline_state, hard, progress)
    summary["wall_seconds_this_invocation"] = round(time.perf_counter() - t_start, 1)
    summary["promotions"] = len(state["promotions"])
    summary["pq_size"] = len(state["pq"])
    from soar_kit.modeling import peak_rss_bytes

    summary["peak_rss_mb"] = round(peak_rss_bytes() / 2**20)
    if parts.backend.stats():
        summary["backend"] = {"name": parts.backend.name, **parts.backend.stats()}
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    _print_summary(console, run_dir, summary)
    try:
        from soar_kit.report import write_report

        write_report(run_dir)
        console.print(f"report: {run_dir / 'report' / 'summary.md'}")
    except Exception as exc:  # the run's data is safe; a plotting problem must not hide it
        console.print(f"[yellow]report not written: {type(exc).__name__}: {exc}[/]")
    return run_dir


def mine_configured_hard_set(
    config: RunConfig, parts: Components, policy: Policy, progress: Progress
) -> HardSet:
    """The fail@k hard set that ``config.hardset`` describes, mined with ``policy``."""
    name = problem_set_name(config, parts.domain)
    candidates = candidate_problems(
        parts.domain, name, seed=derive_seed(config.seed, "hardset"), size=config.hardset.size
    )
    task = progress.add_task(f"mining fail@{config.hardset.k} on {name}", total=len(candidates))
    hard = mine_hard_set(
        parts.domain,
        policy,
        parts.backend,
        candidates,
        k=config.hardset.k,
        max_new_tokens=config.student.rl.sampling.max_new_tokens,
        seed=derive_seed(config.seed, "hardset-sampling"),
        on_progress=lambda n: progress.advance(task, n),
    )
    progress.remove_task(task)
    return hard


@contextmanager
def _closing(thing: Executor | GenerationBackend) -> Iterator[Any]:
    try:
        yield thing
    finally:
        thing.close()


def _hard_set(
    config: RunConfig,
    parts: Components,
    base: Policy,
    store: RunStore,
    state: dict[str, Any],
    progress: Progress,
) -> HardSet:
    domain = parts.domain
    if config.hardset.path is not None:
        return HardSet.load(config.hardset.path, domain)
    if state["hardset"] and store.hardset_path.exists():
        return HardSet.load(store.hardset_path, domain)
    hard = mine_configured_hard_set(config, parts, base, progress)
    hard.save(store.hardset_path)
    state["hardset"] = True
    store.commit_state(state)
    return hard


def _outer_step(
    model_dir: Path | None,
    config: RunConfig,
    parts: Components,
    teacher: Policy,
    student: Policy,
    baseline_state: dict[str, Any],
    hard: HardSet,
    state: dict[str, Any],
    updater: TeacherUpdater,
    progress: Progress,
) -> dict[str, Any]:
    meta = config.meta
    step = state["step"]
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    # 1. the teacher writes g*n problems
    sampling = config.teacher.rl.sampling
    params = SamplingParams(
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_new_tokens=sampling.max_new_tokens,
        seed=derive_seed(config.seed, step, "teacher"),
    )
    count = meta.g * meta.n
    task = progress.add_task("  teacher writes problems", total=count)
    batch = sample_problems(
        parts.domain,
        teacher,
        parts.backend,
        count=count,
        params=params,
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
    qr = qr_rng.sample(hard.train, min(meta.qr_size, len(hard.train)))
    ctx = InnerContext(
        config=config,
        step=step,
        qr=qr,
        domain=parts.domain,
        trainer=parts.trainer,
        backend=parts.backend,
        student=student,
        baseline_state=baseline_state,
        model_dir=model_dir,
    )
    gains = StudentGains(ctx, parts.executor, datasets, progress)
    rewards = [
        float(parts.scheme.dataset_reward(DatasetProbe(ctx, k, ds, partial(gains.for_dataset, k))))
        for k, ds in enumerate(datasets)
    ]
    timings["rewards"] = time.perf_counter() - t1

    # 4. teacher update: RLOO over the g datasets
    t2 = time.perf_counter()
    update = updater.update(datasets, rewards)
    timings["teacher_update"] = time.perf_counter() - t2

    # 5. promotion
    mean_reward = sum(rewards) / len(rewards)
    state["history"].append(mean_reward)
    avg = moving_average(state["history"], meta.window)
    promoted: dict[str, Any] | None = None
    if gains.gains is not None and avg > meta.tau:
        best = max(range(meta.g), key=lambda k: (rewards[k], -k))
        pick = median_student(gains.gains[best])
        # retrain the chosen student from its seed (deterministic), instead of having kept
        # g*r trained copies around; its measured gain is logged next to the original one
        t3 = time.perf_counter()
        acc = run_job_here(ctx, gains.job(best, pick)).accuracy
        timings["promotion_retrain"] = time.perf_counter() - t3
        promoted = {
            "dataset": best,
            "student": pick,
            "gain": gains.gains[best][pick],
            "retrained_gain": acc - (gains.baseline_accuracy or 0.0),
            "problems": [
                {**s.problem.model_dump(mode="json"), "step": step, "reward": rewards[best]}
                for s in datasets[best]
            ],
        }
        state["promotions"].append({"step": step, "dataset": best, "student": pick})
        # the baseline changed: rewards measured against the old one no longer apply
        state["history"] = []
    questions = [s.problem.question for s in batch.samples]
    row = {
        "step": step,
        "rewards": rewards,
        "mean_reward": mean_reward,
        "moving_average": avg,
        "baseline_qr_accuracy": gains.baseline_accuracy,
        "student_gains": gains.gains or [],
        "promoted": promoted,
        "accepted": len(batch.samples),
        "tried": batch.tried,
        "acceptance": batch.acceptance,
        "rejections": dict(batch.rejections),
        "diversity": diversity(questions, meta.diversity),
        "diversity_kernel": meta.diversity,
        **posed_summary([x.problem for x in batch.samples]),
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "seconds": round(time.perf_counter() - t0, 2),
        **update,
    }
    # one reference per kernel: a run resumed with another kernel must not mix their scales
    first_key = "first_diversity" + ("" if meta.diversity == "ngram" else f"_{meta.diversity}")
    first = state.setdefault(first_key, row["diversity"])
    row["diversity_collapse"] = bool(first and row["diversity"] < COLLAPSE_RATIO * first)
    return row


def posed_summary(problems: Sequence[Problem]) -> dict[str, Any]:
    """What the teacher posed, where the domain says (``problem.data``): the level of each
    question and whether the teacher's own answer was right. Both show *how* a teacher learns
    (harder questions? better answers?), which the reward alone cannot tell."""
    levels: dict[str, int] = {}
    right = known = 0
    for p in problems:
        data = p.data or {}
        if "level" in data:
            levels[str(data["level"])] = levels.get(str(data["level"]), 0) + 1
        if "teacher_answer_correct" in data:
            known += 1
            right += bool(data["teacher_answer_correct"])
    out: dict[str, Any] = {}
    if levels:
        out["levels_posed"] = dict(sorted(levels.items(), key=lambda kv: int(kv[0])))
    if known:
        out["teacher_answer_accuracy"] = right / known
    return out


def _final_eval(
    config: RunConfig,
    parts: Components,
    student: Policy,
    base_state: dict[str, Any],
    baseline_state: dict[str, Any],
    hard: HardSet,
    progress: Progress,
) -> dict[str, Any]:
    """Greedy accuracy and pass@k on the hard test part: base student vs promoted student."""
    from soar_kit.evaluation import pass_at_ks
    from soar_kit.modeling import restore_state

    sampling = config.student.rl.sampling
    out: dict[str, Any] = {"hard_train": len(hard.train), "hard_test": len(hard.test)}
    task = progress.add_task("evaluating on hard test", total=2)
    for label, weights in (("base", base_state), ("promoted", baseline_state)):
        restore_state(student.model, weights)
        scores = pass_at_ks(
            parts.domain,
            student,
            parts.backend,
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
        f"peak RSS: {summary['peak_rss_mb']} MB  run: {run_dir}"
    )


__all__ = ["SoarKitError", "derive_seed", "median_student", "run_soar"]
