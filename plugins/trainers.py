"""Built-in student trainers: ``rloo`` (plain torch, always) and ``trl`` (TRL's RLOOTrainer).

No top-level torch/trl import: the CLI imports this module at start-up to list plugins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from soar_kit import hookimpl
from soar_kit.records import Problem
from soar_kit.training import PromptFn, RewardFn, StepCallback, StudentTrainer, TrainStats

if TYPE_CHECKING:
    from soar_kit.config import RLConfig
    from soar_kit.models import Policy


class RLOOTrainer(StudentTrainer):
    """Lean RLOO in plain torch (:mod:`soar_kit.rl`): samples with the policy, AdamW, cosine.

    ``micro_batch`` bounds the sequences scored with gradients at once (memory, not maths);
    ``stop`` are extra stop strings for the student's completions (EOS always stops).
    """

    name = "rloo"
    description = "built-in RLOO (leave-one-out baseline), plain torch"

    def __init__(self, micro_batch: int = 64, stop: Sequence[str] = ()) -> None:
        self.micro_batch = micro_batch
        self.stop = tuple(stop)

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
        from soar_kit.rl import train_rloo

        return train_rloo(
            policy,
            problems,
            prompt=prompt,
            reward=reward,
            settings=settings,
            seed=seed,
            on_step=on_step,
            micro_batch=self.micro_batch,
            stop=self.stop,
        )


@hookimpl
def soarkit_register_trainers(register: Any) -> None:
    register(RLOOTrainer())
