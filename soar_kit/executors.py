"""Where the g*r inner student trainings of an outer step run.

The trainings of one outer step are independent (SOAR.md, "Scale in the paper"): each resets a
student to the baseline, trains it on one teacher dataset and measures its greedy accuracy on
Q_R. An :class:`Executor` runs a list of such jobs and returns a :class:`StudentResult` per job,
in job order — in this process (``local``), or spread over workers (``ray``, an optional plugin).

Only accuracies (and per-step training rewards) come back, never weights: when a promotion picks
a student, the loop retrains that one student in-process from its seed (training is
deterministic in its seed), so memory stays at one working student however large g*r is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from soar_kit.generation import SamplingParams
from soar_kit.records import Problem

if TYPE_CHECKING:
    from soar_kit.config import RLConfig, RunConfig
    from soar_kit.domain import Domain
    from soar_kit.generation import GenerationBackend
    from soar_kit.models import Policy
    from soar_kit.training import StudentTrainer, TrainStats


@dataclass(frozen=True)
class StudentJob:
    """Train one student: reset to the baseline, RL on ``problems`` with ``seed``."""

    dataset: int
    student: int
    problems: tuple[Problem, ...]
    seed: int


@dataclass
class InnerContext:
    """Everything an executor needs for the jobs of one outer step.

    ``student``/``baseline_state`` are this process's working model and the baseline weights;
    ``model_dir`` is a saved copy of the model (architecture, tokenizer) from which remote
    workers can rebuild a student before loading ``baseline_state``.
    """

    config: RunConfig
    step: int
    qr: list[Problem]
    domain: Domain
    trainer: StudentTrainer
    backend: GenerationBackend
    student: Policy
    baseline_state: dict[str, Any]
    model_dir: Path | None = None


@dataclass(frozen=True)
class StudentResult:
    """What one inner training measured: greedy Q_R accuracy, and the mean training reward of
    each RL step. The rewards cost nothing to return and make "same seeds, same results" checks
    between executors meaningful even when every accuracy is 0 (a tiny model on hard problems).
    """

    accuracy: float
    train_rewards: tuple[float, ...] = ()


OnDone = Callable[[StudentJob, StudentResult], None]


class Executor(ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: Whether workers rebuild students from a saved model folder (``InnerContext.model_dir``).
    needs_model_dir: ClassVar[bool] = False

    def available(self) -> str | None:
        """``None`` when usable here, else a one-line reason (e.g. ray not installed)."""
        return None

    @abstractmethod
    def train_students(
        self, ctx: InnerContext, jobs: Sequence[StudentJob], on_done: OnDone | None = None
    ) -> list[StudentResult]:
        """The result (greedy Q_R accuracy, training rewards) of each job, in job order.

        Must give the same numbers as training the jobs one after another in this process.
        """

    def close(self) -> None:
        """Release workers (called once at the end of a run); nothing to do by default."""
        return None


def greedy_accuracy(
    domain: Domain,
    policy: Policy,
    backend: GenerationBackend,
    problems: Sequence[Problem],
    max_new_tokens: int,
) -> float:
    from soar_kit.hardset import success_counts

    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens)
    counts = success_counts(domain, policy, backend, problems, params)
    return sum(counts) / len(counts) if counts else 0.0


def qr_accuracy(
    config: RunConfig,
    domain: Domain,
    policy: Policy,
    backend: GenerationBackend,
    problems: Sequence[Problem],
) -> float:
    """Accuracy on Q_R as the run's config measures it: greedy (the paper), or, with
    ``meta.qr_samples = m > 0``, the mean success of m samples at temperature 1.

    Why the option: on a hard set that greedy decoding never solves, a few inner steps rarely
    flip a greedy answer, so the grounded reward is 0 almost always; the sampled success rate
    moves with every small gain. Baseline and students sample with the same seed (common
    random numbers), so the difference measures the training, not the sampling noise.
    """
    from soar_kit.hardset import success_counts

    m = config.meta.qr_samples
    if m == 0:
        return greedy_accuracy(
            domain, policy, backend, problems, config.student.rl.sampling.max_new_tokens
        )
    params = SamplingParams(
        n=m,
        temperature=1.0,
        max_new_tokens=config.student.rl.sampling.max_new_tokens,
        seed=config.seed * 7919 + 101,
    )
    counts = success_counts(domain, policy, backend, problems, params)
    return sum(counts) / (m * len(counts)) if counts else 0.0


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
    import inspect

    extra: dict[str, Any] = {}
    if backend is not None and "backend" in inspect.signature(trainer.train).parameters:
        extra["backend"] = backend
    return trainer.train(
        policy,
        list(problems),
        prompt=domain.student_prompt,
        reward=lambda p, c: domain.verify(p, c).reward,
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
    from soar_kit.modeling import restore_state

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
