"""The contract of a student trainer: RL on a set of problems with a verifiable reward.

In SOAR the inner loop trains g*r fresh students per outer step, each from the baseline, on a
teacher-written dataset, rewarding agreement with the teacher's answer. A trainer takes a policy
and updates it in place; copying/resetting students is the caller's job so that trainers stay
simple and the loop can reset from one saved state instead of holding g*r copies.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, Field

from soar_kit.contracts.records import Problem

if TYPE_CHECKING:
    from soar_kit.config import RLConfig
    from soar_kit.contracts.backend import GenerationBackend
    from soar_kit.contracts.domain import Domain
    from soar_kit.contracts.model import Policy

#: ``reward(problem, completion) -> float``: the shaped reward of one completion. The reward
#: a run hands a trainer is a :class:`VerifierReward`, which also scores a group at once.
RewardFn = Callable[[Problem, str], float]


class VerifierReward:
    """The student reward of SOAR: the domain verifier's shaped reward of a completion.

    Callable like any :data:`RewardFn`; :meth:`many` scores the completions of one problem with
    :meth:`Domain.verify_many <soar_kit.contracts.domain.Domain.verify_many>`, which a domain
    may batch (the code domain de-duplicates and runs its sandbox in parallel). Trainers score
    groups through :func:`group_rewards`, so a plain function still works as a reward.
    """

    def __init__(self, domain: Domain) -> None:
        self.domain = domain

    def __call__(self, problem: Problem, completion: str) -> float:
        return self.domain.verify(problem, completion).reward

    def many(self, problem: Problem, completions: Sequence[str]) -> list[float]:
        return [v.reward for v in self.domain.verify_many(problem, completions)]


def group_rewards(reward: RewardFn, problem: Problem, completions: Sequence[str]) -> list[float]:
    """The rewards of several completions of ``problem``, in order, batched where the reward
    can (:meth:`VerifierReward.many`)."""
    many = getattr(reward, "many", None)
    if callable(many):
        return [float(r) for r in many(problem, completions)]
    return [float(reward(problem, c)) for c in completions]
#: ``prompt(problem) -> str``: the text the policy completes.
PromptFn = Callable[[Problem], str]
#: Called after each optimizer step with (step, metrics); used for progress bars and logs.
StepCallback = Callable[[int, dict[str, float]], None]


class TrainStats(BaseModel):
    """What one training run did, step by step (for the run log)."""

    steps: int = 0
    mean_reward: list[float] = Field(default_factory=list)
    loss: list[float] = Field(default_factory=list)
    kl: list[float] = Field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0


class StudentTrainer(ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: Whether :meth:`train_together` is implemented (``student.lora.together > 1``).
    trains_together: ClassVar[bool] = False

    def available(self) -> str | None:
        """``None`` when usable here, else a one-line reason (e.g. an extra not installed)."""
        return None

    @abstractmethod
    def train(
        self,
        policy: Policy,
        problems: Sequence[Problem],
        *,
        prompt: PromptFn,
        reward: RewardFn,
        settings: RLConfig,
        seed: int,
        on_step: StepCallback | None = None,
        backend: GenerationBackend | None = None,
    ) -> TrainStats:
        """Update ``policy`` in place with ``settings.steps`` RL steps; deterministic in ``seed``.

        ``backend``: the run's generation backend, for trainers that sample their rollouts
        through it (optional: a trainer without this keyword is still called, without it).
        Whoever changes the weights in place calls :func:`soar_kit.weight_version.bump` after
        each optimizer step, so an engine holding a copy re-syncs before it samples again.
        """

    def train_together(
        self,
        policy: Policy,
        students: Sequence[tuple[Sequence[Problem], int]],
        adapters: Sequence[str],
        *,
        prompt: PromptFn,
        reward: RewardFn,
        settings: RLConfig,
    ) -> list[TrainStats]:
        """Train several LoRA students at once: student ``i`` (its problems, its seed) is the
        peft adapter ``adapters[i]`` of ``policy.model`` (:func:`soar_kit.lm.lora.student_slots`).

        Must give each student what :meth:`train` gives it alone, so that a run's numbers do
        not depend on how many students train together; only trainers that set
        :attr:`trains_together` are asked.
        """
        raise NotImplementedError(f"student trainer {self.name!r} trains one student at a time")
