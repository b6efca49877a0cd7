"""The contract of a generation backend: sample completions from fixed weights.

SOAR samples a lot with weights that do not change during the call (hard-set mining with
k=128, pass@k evaluation, teacher sampling), so backends are swappable: plain transformers
``generate`` everywhere, vLLM where it is installed. Backends are registered through the
``soarkit_register_backends`` hook.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from soar_kit.config import SamplingConfig
    from soar_kit.contracts.model import Policy

#: One request of a batch: prompts and how to sample them (its own seed).
Request = tuple[Sequence[str], "SamplingParams"]


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
    """Samples ``n`` completions per prompt from a :class:`~soar_kit.contracts.model.Policy`.

    Beyond :meth:`generate`, a backend gets the run's lifecycle (:meth:`with_options` before any
    work, :meth:`prepare` once the models are loaded, :meth:`close` at the end, errors
    included), large batched requests (:meth:`generate_batch`) and token-level rollouts for RL
    (:meth:`rollout`). The defaults of all of these do what a backend without an engine needs,
    so a third-party backend only has to implement :meth:`generate`.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: Whether one large request is cheaper than several small ones (an engine that schedules
    #: and batches by itself, like vLLM). Callers then ask for a whole phase in one call; the
    #: transformers backend keeps its historical request sizes, so its results do not change.
    prefers_large_requests: ClassVar[bool] = False
    #: Whether it samples a peft (LoRA) student as it is, adapters included. The transformers
    #: backend runs the torch module itself, so it does; an engine with its own copy of the
    #: weights must load the adapters separately, which is its own feature.
    samples_adapters: ClassVar[bool] = False
    #: Whether :meth:`generate_adapters` samples many LoRA students (adapter states on one
    #: base) in one call; an engine feature, off by default.
    samples_many_adapters: ClassVar[bool] = False

    def available(self) -> str | None:
        """``None`` when usable here, else a one-line reason (shown by ``soarkit plugins``)."""
        return None

    def with_options(self, options: Mapping[str, Any]) -> GenerationBackend:
        """A backend for one run, configured by ``backend.options``; bad options raise
        :class:`~soar_kit.errors.ConfigError` in one line. By default no option is known."""
        from soar_kit.errors import ConfigError

        if options:
            raise ConfigError(
                f"backend.options: backend '{self.name}' takes no options "
                f"(got {', '.join(sorted(options))})"
            )
        return self

    def prepare(self, policies: Sequence[Policy]) -> None:
        """Called once the run's models are loaded and before any trainer allocates memory, so
        an engine can claim its memory first. Nothing to do by default."""
        return None

    def close(self) -> None:
        """Release engines (called once at the end of a run, also after an error)."""
        return None

    def stats(self) -> dict[str, float]:
        """Counters for the run summary (e.g. engines built, weight syncs); none by default."""
        return {}

    def generate_batch(
        self,
        policy: Policy,
        requests: Sequence[Request],
        on_done: Callable[[int], None] | None = None,
    ) -> list[list[list[str]]]:
        """:meth:`generate` for each request, in order (``on_done(i)`` after request ``i``).

        One call per phase (all of hard-set mining, all of Q_R, ...): a backend that schedules
        itself sends everything to its engine at once; by default the requests run one by one,
        which gives exactly what the callers got before they batched.
        """
        outs: list[list[list[str]]] = []
        for i, (prompts, params) in enumerate(requests):
            outs.append(self.generate(policy, prompts, params))
            if on_done is not None:
                on_done(i)
        return outs

    def generate_adapters(
        self,
        policy: Policy,
        states: Sequence[Mapping[str, Any]],
        requests: Sequence[Request],
    ) -> list[list[list[list[str]]]]:
        """``requests`` sampled once per adapter state on ``policy``'s base (a peft policy), in
        order: what :meth:`generate_batch` gives ``policy`` with each state's adapters loaded.
        Only where :attr:`samples_many_adapters`; it may leave ``policy`` holding any of them.

        Why: the g*r LoRA students of an outer step are adapter states on one frozen base, so
        an engine that serves adapters samples all of their Q_R at once (vLLM: one call, a
        ``LoRARequest`` per prompt). Without it, callers score one student at a time.
        """
        raise NotImplementedError(f"backend {self.name!r} samples one adapter state at a time")

    def rollout(
        self,
        policy: Policy,
        prompts: Sequence[str],
        params: SamplingParams,
        *,
        generator: Any = None,
    ) -> Any:
        """Samples with their token ids and masks (a :class:`soar_kit.lm.sampling.Rollout`), so
        a trainer computes log-probs on exactly the tokens that were sampled; ``None`` (the
        default) when the backend has no rollouts of its own: the trainer then samples with the
        policy's model itself.

        ``generator`` is a ``torch.Generator`` the caller keeps across calls (one random stream
        over a training run); a backend that samples elsewhere ignores it and uses
        ``params.seed``.
        """
        return None

    @abstractmethod
    def generate(
        self, policy: Policy, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[str]]:
        """One list of ``params.n`` completions (text after the prompt, stop strings cut) per prompt.

        Same ``params.seed`` and weights -> same completions on the same machine.
        """
