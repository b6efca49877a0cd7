"""Steps 2-3 of SOAR (SOAR.md, "Outer loop"): students trained on each teacher dataset, and
what the reward schemes measure with them.

* :func:`train_student` is the unit of inner work (reset to the baseline, RL on X_k, measure on
  Q_R) that every executor runs, here or on a worker;
* :class:`StudentGains` runs all g*r of a step through the executor, once, when a scheme first
  asks; :class:`StepProbe` is what a reward scheme sees of one dataset;
* :class:`StudentPool` is how the loop resets its working student to the baseline.

Cheap student copies: SOAR trains r fresh copies of the *baseline* student on each of g
datasets, measures them, throws them away, and occasionally promotes one. Holding g*r models
would multiply memory; instead a :class:`StudentPool` keeps

* one snapshot of the baseline weights in CPU memory (taken once, or at promotion), and
* one working model that is reset from that snapshot before every student (an in-place copy:
  no reallocation, so memory stays flat however many students are trained).

Three modes, from most to least memory:

``"copy"`` (default)
    The working model is a separate copy; ``baseline()`` is the untouched original. Memory:
    2 models + 1 snapshot (+ optimizer state while training).
``"shared"`` (what ``run_soar`` uses)
    The baseline's own model is the working model; ``baseline()`` resets it first. Memory:
    1 model + 1 snapshot. Never hold a student and the baseline at the same time.
``"lora"`` (what ``run_soar`` uses with ``student.mode = "lora"``)
    LoRA adapters (``peft``) are injected into the baseline's model and only they are trained and
    reset; the base weights are shared by every student and the snapshot is the adapters' initial
    state (kilobytes to megabytes). With the adapters at their initial value (B = 0) the model
    computes exactly the baseline, so ``baseline()`` is the reset working model. Memory: 1 model
    + adapters, and the optimizer state is the adapters' only. Students differ from full
    fine-tuning (low-rank updates; use a higher learning rate). Every student starts from the
    same fresh adapters (A drawn once from the run's seed, B = 0), as every full student starts
    from the same baseline weights.

    A promotion **merges** the chosen adapters into the base rather than keeping a stack of
    adapters: a stack of k promotions would cost k extra low-rank products in every forward and
    make "the baseline" a list that engines and workers must track, while the paper's promoted
    student is simply a new model. The price is one rounding of base + BA in the base's dtype
    (none worth naming in fp32) and one engine re-sync of the base per promotion.

``capture()`` keeps a trained student (full weights, or adapters only in ``"lora"`` mode);
``promote(state)`` makes it the baseline.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from soar_kit.config import LoraConfig, RLConfig, RunConfig, derive_seed
from soar_kit.contracts.backend import GenerationBackend, SamplingParams
from soar_kit.contracts.domain import Domain
from soar_kit.contracts.executor import Executor, InnerContext, StudentJob, StudentResult
from soar_kit.contracts.model import Policy
from soar_kit.contracts.records import Problem
from soar_kit.contracts.trainer import StudentTrainer, TrainStats, VerifierReward
from soar_kit.errors import SoarKitError
from soar_kit.lm.lora import (
    adapter_state,
    base_state,
    inject_lora,
    load_base_state,
    merge_adapters,
    slot_state,
    student_slots,
)
from soar_kit.lm.weights import StateDict, clone_state, restore_state, snapshot_state
from soar_kit.scoring import qr_accuracies, qr_accuracy, success_counts

if TYPE_CHECKING:
    from rich.progress import Progress

Mode = Literal["copy", "shared", "lora"]


@dataclass
class StudentPool:
    """One baseline, one working student model, reset from a CPU snapshot per student."""

    base: Policy
    mode: Mode = "copy"
    lora: LoraConfig = field(default_factory=LoraConfig)
    #: Seed of the adapters' random A matrices (``"lora"``): every student starts from them.
    lora_seed: int = 0
    students_made: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("copy", "shared", "lora"):
            raise ValueError(f"unknown student mode {self.mode!r} (copy, shared, lora)")
        if self.mode == "copy":
            work_model = copy.deepcopy(self.base.model)
        elif self.mode == "shared":
            work_model = self.base.model
        else:
            work_model = inject_lora(self.base.model, self.lora, self.lora_seed)
            self.base = replace(self.base, model=work_model)
        self._work = Policy(
            model=work_model,
            tokenizer=self.base.tokenizer,
            spec=f"{self.base.spec}#student",
            info={**self.base.info, "student_mode": self.mode},
        )
        # the baseline, taken once: adapters' initial state in lora mode, else all weights
        self._snapshot: StateDict = (
            adapter_state(work_model) if self.mode == "lora" else snapshot_state(work_model, "cpu")
        )
        self._base_copy: StateDict | None = None  # lora: the base's weights, made on request

    # -- the mechanism --------------------------------------------------------------------------
    def fresh(self) -> Policy:
        """The working student, reset to the baseline (invalidates the previous student)."""
        self._reset()
        self.students_made += 1
        self._work.info["trained"] = False
        return self._work

    def baseline(self) -> Policy:
        """A policy that computes the baseline student (see the module doc per mode)."""
        if self.mode == "copy":
            return self.base
        self._reset()
        self._work.info["trained"] = False
        return self._work

    @property
    def partial(self) -> bool:
        """Whether a student's state is part of the model (adapters), not all of it."""
        return self.mode == "lora"

    def capture(self) -> StateDict:
        """A CPU copy of the current student (adapters only in ``"lora"`` mode)."""
        if self.mode == "lora":
            return adapter_state(self._work.model)
        return snapshot_state(self._work.model, device="cpu")

    def load(self, state: StateDict) -> Policy:
        """Put a captured student into the working model (as :meth:`capture` returned it)."""
        restore_state(self._work.model, state, partial=self.partial)
        self._work.info["trained"] = True
        return self._work

    @property
    def snapshot(self) -> StateDict:
        """What every student is reset to: the baseline's weights, or in ``"lora"`` mode the
        fresh adapters (a remote worker also needs :meth:`base_weights` then)."""
        return self._snapshot

    def base_weights(self) -> StateDict:
        """The baseline's full weights under the model's plain names (a checkpoint, a worker,
        the final comparison). In ``"lora"`` mode a CPU copy made on first request and kept
        until the next promotion; otherwise the snapshot itself."""
        if self.mode != "lora":
            return self._snapshot
        if self._base_copy is None:
            self._base_copy = base_state(self._work.model)
        return self._base_copy

    def set_base_weights(self, state: StateDict) -> None:
        """Make the model with these full weights (:meth:`base_weights`' form) the baseline:
        a resumed run's promoted student, or the original base for the final comparison.
        ``state`` is kept, not copied: do not change it afterwards."""
        if self.mode == "lora":
            load_base_state(self._work.model, state)
            self._base_copy = state
        else:
            self._snapshot = state
            if self.mode == "copy":
                restore_state(self.base.model, self._snapshot)
        self._reset()

    def saveable(self) -> tuple[Policy, StateDict | None]:
        """The baseline and the state dict to give ``save_pretrained`` (``None``: the model's
        own), so that plain transformers loads the folder: in ``"lora"`` mode the unwrapped
        base, adapters left out."""
        baseline = self.baseline()
        if self.mode != "lora":
            return baseline, None
        # a shallow copy: save_pretrained deletes the tied duplicates from the dict it is given
        weights = dict(self.base_weights())
        return replace(baseline, model=baseline.model.get_base_model()), weights

    def promote_current(self) -> None:
        """Make the working student, as it is now (just trained), the baseline."""
        if self.mode == "lora":
            self.promote(self.capture())
            return
        self._snapshot = snapshot_state(self._work.model, "cpu")
        if self.mode == "copy":
            restore_state(self.base.model, self._snapshot)

    def promote(self, state: StateDict) -> None:
        """Make a captured student the new baseline (SOAR.md, "Promotion"); in ``"lora"``
        mode its adapters are merged into the base (see :func:`~soar_kit.lm.lora.merge_adapters`
        for why a merge, not a growing stack of adapters)."""
        if self.mode == "lora":
            merge_adapters(self._work.model, state, self._snapshot)
            self._base_copy = None
            return
        self._snapshot = clone_state(state)
        if self.mode == "copy":
            restore_state(self.base.model, self._snapshot)
        self._reset()

    # -- helpers --------------------------------------------------------------------------------
    def _reset(self) -> None:
        restore_state(self._work.model, self._snapshot, partial=self.partial)


# -- the inner work ---------------------------------------------------------------------------


def train_on(
    domain: Domain,
    trainer: StudentTrainer,
    policy: Policy,
    problems: Sequence[Problem],
    settings: RLConfig,
    seed: int,
    backend: GenerationBackend | None = None,
) -> TrainStats:
    """RL on ``problems`` with the domain's student prompt and verifier reward (SOAR.md step 2).

    ``backend`` samples the rollouts where the trainer takes one (a ``backend`` keyword of its
    ``train``); a trainer without it samples its own way.
    """
    extra: dict[str, Any] = {}
    if backend is not None and "backend" in inspect.signature(trainer.train).parameters:
        extra["backend"] = backend
    return trainer.train(
        policy,
        list(problems),
        prompt=domain.student_prompt,
        reward=VerifierReward(domain),
        settings=settings,
        seed=seed,
        **extra,
    )


def train_student(
    job: StudentJob,
    *,
    config: RunConfig,
    domain: Domain,
    trainer: StudentTrainer,
    backend: GenerationBackend,
    student: Policy,
    baseline_state: dict[str, Any],
    qr: Sequence[Problem],
) -> StudentResult:
    """The unit of work: reset, train, measure. Leaves the trained student in ``student``.

    A LoRA student (``student.mode = "lora"``; ``baseline_state`` is then the fresh adapters)
    comes back whole in the result: its adapters are small, so a promotion takes them instead
    of retraining the student. Where :func:`qr_together` holds, its Q_R accuracy is left
    ``None`` here and measured with all the step's students at once (:class:`StudentGains`).
    """
    lora = config.student.mode == "lora"
    restore_state(student.model, baseline_state, partial=lora)
    stats = train_on(
        domain, trainer, student, job.problems, config.student.rl, job.seed, backend=backend
    )
    acc = None if qr_together(config, backend) else qr_accuracy(config, domain, student, backend, qr)
    state = adapter_state(student.model) if lora else None
    return StudentResult(acc, tuple(float(x) for x in stats.mean_reward), state=state)


def train_students_together(ctx: InnerContext, jobs: Sequence[StudentJob]) -> list[StudentResult]:
    """:func:`train_student` for several LoRA students at once (``student.lora.together``):
    each job's student is one adapter slot of the working model, all trained in shared batches
    (:meth:`~soar_kit.contracts.trainer.StudentTrainer.train_together`). The results are those
    of :func:`train_student` on each job; the working model is left holding the last student.
    """
    config, student = ctx.config, ctx.student
    with student_slots(student.model, [ctx.baseline_state] * len(jobs)) as slots:
        stats = ctx.trainer.train_together(
            student,
            [(job.problems, job.seed) for job in jobs],
            slots,
            prompt=ctx.domain.student_prompt,
            reward=VerifierReward(ctx.domain),
            settings=config.student.rl,
        )
        states = [slot_state(student.model, slot) for slot in slots]
    results = []
    later = qr_together(config, ctx.backend)
    for trained, state in zip(stats, states, strict=True):
        acc = None
        if not later:
            restore_state(student.model, state, partial=True)
            acc = qr_accuracy(config, ctx.domain, student, ctx.backend, ctx.qr)
        rewards = tuple(float(x) for x in trained.mean_reward)
        results.append(StudentResult(acc, rewards, state=state))
    student.info["trained"] = True
    return results


def qr_together(config: RunConfig, backend: GenerationBackend) -> bool:
    """Whether a step's students are scored on Q_R together, once all are trained, rather than
    each after its own training.

    Why: LoRA students are adapter states on one frozen base, and an engine that serves many
    adapters (vLLM, ``samples_many_adapters``) samples the Q_R of all g*r of them in one call, each prompt with its own
    adapter (SOAR's Q_R sweep is g*r*|Q_R| greedy decodes per step). The samples are the same
    either way (same seeds, same weights); only the number of engine calls changes.
    """
    return config.student.mode == "lora" and backend.samples_many_adapters


def run_job_here(ctx: InnerContext, job: StudentJob) -> StudentResult:
    return train_student(
        job,
        config=ctx.config,
        domain=ctx.domain,
        trainer=ctx.trainer,
        backend=ctx.backend,
        student=ctx.student,
        baseline_state=ctx.baseline_state,
        qr=ctx.qr,
    )


# -- what the reward schemes measure ----------------------------------------------------------


class StudentGains:
    """Trains all g*r students of a step through the executor, once, on first request."""

    def __init__(
        self,
        ctx: InnerContext,
        pool: StudentPool,
        executor: Executor,
        datasets: list[list[Any]],
        progress: Progress,
    ) -> None:
        self.ctx = ctx
        self.pool = pool
        self.executor = executor
        self.datasets = datasets
        self.progress = progress
        self.baseline_accuracy: float | None = None
        self.jobs: list[StudentJob] = []
        self.results: list[StudentResult] = []
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
        ctx = self.ctx
        r = ctx.config.meta.r
        baseline = self.pool.baseline()
        self.baseline_accuracy = qr_accuracy(ctx.config, ctx.domain, baseline, ctx.backend, ctx.qr)
        self.jobs = [self.job(k, i) for k in range(len(self.datasets)) for i in range(r)]
        task = self.progress.add_task("  training students", total=len(self.jobs))
        results = self.executor.train_students(
            ctx, self.jobs, on_done=lambda job, result: self.progress.advance(task)
        )
        self.results = list(results)
        waiting = [i for i, result in enumerate(self.results) if result.accuracy is None]
        if waiting:  # LoRA students on an engine: all their Q_R in one call (qr_together)
            states = [self.results[i].state for i in waiting]
            if any(state is None for state in states):
                raise SoarKitError("a student came back without Q_R accuracy or adapters")
            student = self.pool.baseline()
            measured = qr_accuracies(ctx.config, ctx.domain, student, ctx.backend, states, ctx.qr)
            for i, acc in zip(waiting, measured, strict=True):
                self.results[i] = replace(self.results[i], accuracy=acc)
            self.pool.baseline()  # the working model back to the baseline's adapters
        accs = [float(result.accuracy or 0.0) for result in self.results]
        self.progress.remove_task(task)
        base = self.baseline_accuracy
        self.gains = [[accs[k * r + i] - base for i in range(r)] for k in range(len(self.datasets))]


class StepProbe:
    """The :class:`~soar_kit.contracts.reward.DatasetProbe` of one teacher dataset X_k.

    Student gains are measured for all datasets at once through the executor (the g*r trainings
    are independent, so they can run in parallel) and handed in; success rates are sampled from
    the baseline on first use.
    """

    def __init__(
        self,
        ctx: InnerContext,
        pool: StudentPool,
        k: int,
        samples: list[Any],
        gains: Callable[[], list[float]],
    ) -> None:
        self.ctx = ctx
        self.pool = pool
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
            ctx = self.ctx
            params = SamplingParams.from_config(
                ctx.config.student.rl.sampling,
                n=samples,
                seed=derive_seed(ctx.config.seed, ctx.step, "rates", self.k),
            )
            baseline = self.pool.baseline()
            counts = success_counts(ctx.domain, baseline, ctx.backend, self.problems, params)
            self._rates[samples] = [c / samples for c in counts]
        return self._rates[samples]


def median_student(gains: Sequence[float]) -> int:
    """Index of the student with the median gain (the lower median for even r), per SOAR.md."""
    order = sorted(range(len(gains)), key=lambda i: (gains[i], i))
    return order[(len(order) - 1) // 2]
