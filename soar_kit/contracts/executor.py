"""Where the g*r inner student trainings of an outer step run.

The trainings of one outer step are independent (SOAR.md, "Scale in the paper"): each resets a
student to the baseline, trains it on one teacher dataset and measures its greedy accuracy on
Q_R. An :class:`Executor` runs a list of such jobs and returns a :class:`StudentResult` per job,
in job order — in this process (``local``), or spread over workers (``ray``, an optional plugin).

The unit of work itself (reset, train, measure) is :func:`soar_kit.students.train_student`;
an executor only decides where it runs. Only accuracies (and per-step training rewards) come
back for full students, never their weights: when a promotion picks one, the loop retrains
that one student in-process from its seed (training is deterministic in its seed), so memory
stays at one working student however large g*r is. LoRA students are small enough to come back
whole (:attr:`StudentResult.state`), and a promotion takes the chosen one as it is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from soar_kit.contracts.records import Problem

if TYPE_CHECKING:
    from soar_kit.config import RunConfig
    from soar_kit.contracts.backend import GenerationBackend
    from soar_kit.contracts.domain import Domain
    from soar_kit.contracts.model import Policy
    from soar_kit.contracts.trainer import StudentTrainer


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
    #: LoRA students: ``baseline_state`` holds the fresh adapters only, and this the frozen
    #: base they sit on (plain names, changes only at a promotion) for workers that rebuild
    #: students from ``model_dir``; ``None`` otherwise.
    base_state: dict[str, Any] | None = None


@dataclass(frozen=True)
class StudentResult:
    """What one inner training measured: greedy Q_R accuracy, and the mean training reward of
    each RL step. The rewards cost nothing to return and make "same seeds, same results" checks
    between executors meaningful even when every accuracy is 0 (a tiny model on hard problems).
    """

    #: ``None`` until measured, where the step's students are scored on Q_R together
    #: (:func:`soar_kit.students.qr_together`).
    accuracy: float | None
    train_rewards: tuple[float, ...] = ()
    #: The trained student itself where it is small (a LoRA student's adapters, CPU tensors),
    #: so a promotion can take it instead of retraining; ``None`` for full students. Not part
    #: of equality: two results are the same when they measured the same.
    state: dict[str, Any] | None = field(default=None, compare=False, repr=False)


OnDone = Callable[[StudentJob, StudentResult], None]


class Executor(ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: Whether workers rebuild students from a saved model folder (``InnerContext.model_dir``).
    needs_model_dir: ClassVar[bool] = False
    #: Whether it trains ``student.lora.together`` LoRA students at once where asked.
    trains_together: ClassVar[bool] = False

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
