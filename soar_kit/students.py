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
``"lora"``
    LoRA adapters (``peft``) are injected into the baseline's model and only they are trained and
    reset; the base weights are shared by every student and the snapshot is the adapters' initial
    state (kilobytes to megabytes). With the adapters at their initial value (B = 0) the model
    computes exactly the baseline, so ``baseline()`` is the reset working model. Memory: 1 model
    + adapters, and the optimizer state is the adapters' only. Students differ from full
    fine-tuning (low-rank updates; use a higher learning rate).

``capture()`` keeps a trained student (full weights, or adapters only in ``"lora"`` mode);
``promote(state)`` makes it the baseline.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from soar_kit.config import RLConfig, RunConfig, derive_seed
from soar_kit.contracts.backend import GenerationBackend, SamplingParams
from soar_kit.contracts.domain import Domain
from soar_kit.contracts.executor import Executor, InnerContext, StudentJob, StudentResult
from soar_kit.contracts.model import Policy
from soar_kit.contracts.records import Problem
from soar_kit.contracts.trainer import StudentTrainer, TrainStats, VerifierReward
from soar_kit.lm.weights import StateDict, clone_state, restore_state, snapshot_state
from soar_kit.scoring import qr_accuracy, success_counts

if TYPE_CHECKING:
    from rich.progress import Progress

Mode = Literal["copy", "shared", "lora"]


@dataclass(frozen=True)
class LoraSettings:
    """LoRA for students (``mode="lora"``); ``target_modules="all-linear"`` adapts every linear
    layer except the output head."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"


@dataclass
class StudentPool:
    """One baseline, one working student model, reset from a CPU snapshot per student."""

    base: Policy
    mode: Mode = "copy"
    lora: LoraSettings = field(default_factory=LoraSettings)
    students_made: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("copy", "shared", "lora"):
            raise ValueError(f"unknown student mode {self.mode!r} (copy, shared, lora)")
        if self.mode == "copy":
            work_model = copy.deepcopy(self.base.model)
        elif self.mode == "shared":
            work_model = self.base.model
        else:
            work_model = self._inject_lora(self.base.model)
            self.base = replace(self.base, model=work_model)
        self._work = Policy(
            model=work_model,
            tokenizer=self.base.tokenizer,
            spec=f"{self.base.spec}#student",
            info={**self.base.info, "student_mode": self.mode},
        )
        # the baseline, taken once: adapters' initial state in lora mode, else all weights
        self._snapshot: StateDict = (
            self._adapter_state() if self.mode == "lora" else snapshot_state(work_model, "cpu")
        )

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

    def capture(self) -> StateDict:
        """A CPU copy of the current student (adapters only in ``"lora"`` mode)."""
        if self.mode == "lora":
            return clone_state(self._adapter_state(), device="cpu")
        return snapshot_state(self._work.model, device="cpu")

    @property
    def snapshot(self) -> StateDict:
        """The baseline's weights (adapters in ``"lora"`` mode): what a remote worker loads."""
        return self._snapshot

    def promote_current(self) -> None:
        """Make the working student, as it is now (just trained), the baseline."""
        if self.mode == "lora":
            self.promote(self.capture())
            return
        self._snapshot = snapshot_state(self._work.model, "cpu")
        if self.mode == "copy":
            restore_state(self.base.model, self._snapshot)

    def promote(self, state: StateDict) -> None:
        """Make a captured student the new baseline (SOAR.md, "Promotion")."""
        if self.mode == "lora":
            self._merge_adapters(state)
            return
        self._snapshot = clone_state(state)
        if self.mode == "copy":
            restore_state(self.base.model, self._snapshot)
        self._reset()

    # -- helpers --------------------------------------------------------------------------------
    def _reset(self) -> None:
        if self.mode == "lora":
            self._load_adapters(self._snapshot)
        else:
            restore_state(self._work.model, self._snapshot)

    def _inject_lora(self, model: Any) -> Any:
        from peft import LoraConfig, get_peft_model

        cfg = LoraConfig(
            r=self.lora.r,
            lora_alpha=self.lora.alpha,
            lora_dropout=self.lora.dropout,
            target_modules=(
                self.lora.target_modules
                if isinstance(self.lora.target_modules, str)
                else list(self.lora.target_modules)
            ),
            task_type="CAUSAL_LM",
        )
        peft_model = get_peft_model(model, cfg)
        peft_model.eval()
        return peft_model

    def _adapter_state(self) -> StateDict:
        return {
            n: p.detach().clone() for n, p in self._work.model.named_parameters() if p.requires_grad
        }

    def _load_adapters(self, state: StateDict) -> None:
        import torch

        params = dict(self._work.model.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)

    def _merge_adapters(self, state: StateDict) -> None:
        """Fold a captured student's adapters into the shared base weights, then zero them.

        merge (base += BA) -> reset adapters to their initial B = 0 -> unmerge (base -= 0, which
        only clears peft's "merged" flag). The base now holds the promoted student exactly.
        """
        model = self._work.model
        self._load_adapters(state)
        model.merge_adapter()
        self._load_adapters(self._snapshot)
        model.unmerge_adapter()


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
    """The unit of work: reset, train, measure. Leaves the trained student in ``student``."""
    restore_state(student.model, baseline_state)
    stats = train_on(
        domain, trainer, student, job.problems, config.student.rl, job.seed, backend=backend
    )
    acc = qr_accuracy(config, domain, student, backend, qr)
    return StudentResult(acc, tuple(float(x) for x in stats.mean_reward))


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
        accs = [result.accuracy for result in results]
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
