"""Built-in generation backends: ``transformers`` (everywhere) and ``vllm`` (where installed;
the engine logic is in :mod:`soarkit_plugins.vllm_engine`).

No top-level torch/vllm import: the CLI imports this module at start-up to list plugins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from soarkit_plugins.vllm_engine import VLLMBackend

from soar_kit import hookimpl
from soar_kit.contracts.backend import GenerationBackend, SamplingParams
from soar_kit.contracts.model import Policy
from soar_kit.errors import ConfigError


class TransformersBackend(GenerationBackend):
    """Batched sampling with the policy's own torch model (KV cache, left padding).

    Prompts are processed in chunks of at most ``max_rows`` sequences (prompts x n) so that
    hard-set mining with k=128 does not build one huge batch. Sampling uses a private
    ``torch.Generator`` seeded from ``params.seed``: same seed and weights, same completions,
    and the global RNG is left alone.
    """

    name = "transformers"
    description = "plain torch sampling loop on the policy's model (CPU or GPU)"
    samples_adapters: ClassVar[bool] = True  # it runs the (peft) module itself

    def __init__(self, max_rows: int = 64) -> None:
        self.max_rows = max_rows

    def with_options(self, options: Mapping[str, Any]) -> TransformersBackend:
        """One option, ``max_rows``: sequences sampled at once (memory). Chunks share one random
        stream, so another value draws other samples from the same distribution."""
        unknown = sorted(set(options) - {"max_rows"})
        if unknown:
            raise ConfigError(
                f"backend.options.{unknown[0]}: unknown option for backend 'transformers' "
                "(known: max_rows)"
            )
        rows = options.get("max_rows", self.max_rows)
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
            raise ConfigError(f"backend.options.max_rows: a positive integer, not {rows!r}")
        return TransformersBackend(rows)

    def generate(
        self, policy: Policy, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[str]]:
        import torch

        from soar_kit.lm.sampling import sample

        if not prompts:
            return []
        generator = torch.Generator(device=policy.device)
        generator.manual_seed(params.seed if params.seed is not None else 0)
        # greedy samples are identical: compute one and repeat it
        n = 1 if params.greedy else params.n
        per_chunk = max(1, self.max_rows // n)
        results: list[list[str]] = []
        for start in range(0, len(prompts), per_chunk):
            chunk = list(prompts[start : start + per_chunk])
            rollout = sample(
                policy.model,
                policy.tokenizer,
                chunk,
                n=n,
                temperature=params.temperature,
                top_p=params.top_p,
                max_new_tokens=params.max_new_tokens,
                stop=params.stop,
                generator=generator,
            )
            for i in range(len(chunk)):
                texts = rollout.texts[i * n : (i + 1) * n]
                results.append(texts * params.n if params.greedy else texts)
        return results


@hookimpl
def soarkit_register_backends(register: Any) -> None:
    register(TransformersBackend())
    register(VLLMBackend())
