"""What a plugin author implements and the records that cross the boundary.

Each contract is one module: :mod:`.domain` (problems, prompts, the verifier), :mod:`.backend`
(sampling), :mod:`.trainer` (student RL), :mod:`.reward` (teacher reward schemes),
:mod:`.model` (model sources and the :class:`Policy` they return), :mod:`.executor` (where
inner trainings run), :mod:`.records` (``Problem``, ``Verdict``). They import nothing of the
core but :mod:`soar_kit.errors` (and :mod:`soar_kit.config` for type hints), which an
import-linter contract in ``pyproject.toml`` checks, so a plugin that imports them never pulls
in the loop.
"""

from soar_kit.contracts.backend import GenerationBackend, SamplingParams
from soar_kit.contracts.domain import ConformanceCases, Domain, MiniWorld, ProblemSet
from soar_kit.contracts.executor import (
    Executor,
    InnerContext,
    OnDone,
    StudentJob,
    StudentResult,
)
from soar_kit.contracts.model import ModelSource, Policy, pick_source
from soar_kit.contracts.records import Problem, Verdict
from soar_kit.contracts.reward import DatasetProbe, RewardScheme
from soar_kit.contracts.trainer import (
    PromptFn,
    RewardFn,
    StepCallback,
    StudentTrainer,
    TrainStats,
    VerifierReward,
    group_rewards,
)

__all__ = [
    "ConformanceCases",
    "DatasetProbe",
    "Domain",
    "Executor",
    "GenerationBackend",
    "InnerContext",
    "MiniWorld",
    "ModelSource",
    "OnDone",
    "Policy",
    "Problem",
    "ProblemSet",
    "PromptFn",
    "RewardFn",
    "RewardScheme",
    "SamplingParams",
    "StepCallback",
    "StudentJob",
    "StudentResult",
    "StudentTrainer",
    "TrainStats",
    "Verdict",
    "VerifierReward",
    "group_rewards",
    "pick_source",
]
