"""Shared fixtures: tiny real causal LMs with a character tokenizer (built in milliseconds)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _few_threads():
    # 2 cores shared by several engineers/CI jobs: keep each test on one thread
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(params=["llama", "gpt2"])
def tiny(request):
    from soar_kit.testing.tiny_models import tiny_policy

    return tiny_policy(request.param, seed=0)


@pytest.fixture
def tiny_llama():
    from soar_kit.testing.tiny_models import tiny_policy

    return tiny_policy("llama", seed=0)
