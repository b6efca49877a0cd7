"""Teacher reward schemes: how good was a teacher-written dataset?

SOAR's point is the *grounded* reward: a dataset is worth the measured improvement of students
trained on it, on hard problems the teacher never sees. The paper compares it with intrinsic
rewards (learnability) that only look at how the student does on the dataset itself.

A scheme receives a :class:`DatasetProbe` and asks it only for what it needs; the probe does the
expensive work (training students, sampling) lazily, so an intrinsic scheme never pays for
inner training. To change the reward, subclass a scheme and register it under a new name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Protocol

from soar_kit.contracts.records import Problem


class DatasetProbe(Protocol):
    """Measurements of one teacher dataset X_k, computed on first use."""

    @property
    def problems(self) -> Sequence[Problem]: ...

    def accuracy_gains(self) -> list[float]:
        """Per trained student: Acc(student on Q_R) - Acc(baseline on Q_R) (greedy)."""
        ...

    def success_rates(self, samples: int) -> list[float]:
        """Per problem of X_k: the baseline student's success rate over ``samples`` samples."""
        ...


class RewardScheme(ABC):
    """Maps a dataset probe to one scalar reward shared by every item of the dataset."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def dataset_reward(self, probe: DatasetProbe) -> float: ...


# -- pure functions, so that each reward is trivially testable ------------------------------


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def grounded_reward(gains: Sequence[float]) -> float:
    """SOAR.md step 3: the mean over r students of the accuracy gain on Q_R."""
    return mean(gains)


def learnability(success_rate: float) -> float:
    """Intrinsic-T as SOAR.md states it: 0 if never solved, else 1 - s."""
    return 0.0 if success_rate <= 0.0 else 1.0 - success_rate


def rzero_uncertainty(success_rate: float) -> float:
    """R-Zero's challenger reward: highest when the solver is right half of the time."""
    return 0.5 - abs(success_rate - 0.5)
