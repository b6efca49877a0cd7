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
    from soar_kit.contracts.model import Policy

#: ``reward(problem, completion) -> float``: the shaped reward of one completion.
RewardFn = Callable[[Problem, str], float]
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
    ) -> TrainStats:
        """Update ``policy`` in place with ``settings.steps`` RL steps; deterministic in ``seed``."""
