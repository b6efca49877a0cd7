"""Built-in teacher reward schemes: grounded (SOAR), learnability (Intrinsic-T), R-Zero."""

from __future__ import annotations

from typing import ClassVar

from soar_kit import hookimpl
from soar_kit.contracts.reward import (
    DatasetProbe,
    RewardScheme,
    grounded_reward,
    learnability,
    mean,
    rzero_uncertainty,
)


class GroundedReward(RewardScheme):
    """SOAR's reward: Δ greedy accuracy on fresh hard-train questions, averaged over r students."""

    name = "grounded"
    description = "Δ accuracy on hard-train questions of students trained on the dataset (SOAR)"

    def dataset_reward(self, probe: DatasetProbe) -> float:
        return grounded_reward(probe.accuracy_gains())


class LearnabilityReward(RewardScheme):
    """Intrinsic-T of the paper: rewards questions the student sometimes, but not always, solves."""

    name = "learnability"
    description = "intrinsic: mean over questions of (0 if s=0 else 1-s), s over 32 samples"
    samples: ClassVar[int] = 32

    def dataset_reward(self, probe: DatasetProbe) -> float:
        return mean([learnability(s) for s in probe.success_rates(self.samples)])


class RZeroReward(RewardScheme):
    """R-Zero's uncertainty reward 0.5 - |p - 0.5|: questions at the solver's 50 % frontier."""

    name = "rzero"
    description = "intrinsic: mean of 0.5-|s-0.5| (R-Zero challenger reward)"
    samples: ClassVar[int] = 32

    def dataset_reward(self, probe: DatasetProbe) -> float:
        return mean([rzero_uncertainty(s) for s in probe.success_rates(self.samples)])


@hookimpl
def soarkit_register_reward_schemes(register):
    register(GroundedReward())
    register(LearnabilityReward())
    register(RZeroReward())
