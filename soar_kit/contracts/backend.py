"""The contract of a generation backend: sample completions from fixed weights.

SOAR samples a lot with weights that do not change during the call (hard-set mining with
k=128, pass@k evaluation, teacher sampling), so backends are swappable: plain transformers
``generate`` everywhere, vLLM where it is installed. Backends are registered through the
``soarkit_register_backends`` hook.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from soar_kit.config import SamplingConfig
    from soar_kit.contracts.model import Policy


class SamplingParams(BaseModel):
    """How to sample; ``temperature == 0`` means greedy (then ``n`` identical samples)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = Field(1, ge=1)
    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(64, ge=1)
    stop: tuple[str, ...] = ()
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @classmethod
    def from_config(cls, sampling: SamplingConfig, **fields: object) -> SamplingParams:
        """A run's ``[*.rl.sampling]`` section as backend parameters (``fields`` add ``n``,
        ``seed``, ...), so the config's sampling settings are unpacked in one place."""
        return cls(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_new_tokens=sampling.max_new_tokens,
            **fields,  # type: ignore[arg-type]
        )


class GenerationBackend(ABC):
    """Samples ``n`` completions per prompt from a :class:`~soar_kit.contracts.model.Policy`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def available(self) -> str | None:
        """``None`` when usable here, else a one-line reason (shown by ``soarkit plugins``)."""
        return None

    @abstractmethod
    def generate(
        self, policy: Policy, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[str]]:
        """One list of ``params.n`` completions (text after the prompt, stop strings cut) per prompt.

        Same ``params.seed`` and weights -> same completions on the same machine.
        """
