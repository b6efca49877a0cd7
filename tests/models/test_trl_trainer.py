"""The trl trainer wraps TRL's RLOOTrainer behind the StudentTrainer contract."""

from __future__ import annotations

import importlib.util

import pytest

from soar_kit.config import RLConfig, SamplingConfig
from soar_kit.contracts.records import Problem
from soar_kit.plugins import PluginManager

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("trl") is None, reason="trl not installed (soar-kit[trl])"
)

PROBLEMS = [Problem(id=str(i), question=f"q{i}", answer="a", domain="toy") for i in range(8)]


def prompt(p: Problem) -> str:
    return p.question + ":"


def frac_a(p: Problem, completion: str) -> float:
    assert p in PROBLEMS  # the wrapper must hand back the right problem objects
    return completion.count("a") / max(1, len(completion))


@pytest.fixture(scope="module")
def trainer():
    t = PluginManager(load_entry_points=False).get("trainer", "trl")
    assert t.available() is None
    return t


def test_trl_learns_the_a_task_in_place(tiny_llama, trainer):
    model = tiny_llama.model
    seen: list[int] = []
    stats = trainer.train(
        tiny_llama,
        PROBLEMS,
        prompt=prompt,
        reward=frac_a,
        settings=RLConfig(
            lr=3e-3,
            steps=25,
            batch_size=4,
            group_size=8,
            sampling=SamplingConfig(max_new_tokens=16),
        ),
        seed=0,
        on_step=lambda s, m: seen.append(s),
    )
    assert tiny_llama.model is model
    assert stats.steps == 25 and seen == list(range(1, 26))
    first, last = stats.mean_reward[:3], stats.mean_reward[-3:]
    assert sum(last) / 3 > sum(first) / 3 + 0.2, stats.mean_reward
    assert 0 < stats.tokens <= 25 * 32 * 16
    assert "forward" not in vars(model)  # TRL's fused-head patch is undone
    # the learning happened in the policy's own weights: sampling now favours 'a'
    from soar_kit.lm.sampling import sample

    r = sample(
        model,
        tiny_llama.tokenizer,
        ["q1:"],
        n=16,
        max_new_tokens=16,
        generator=torch.Generator().manual_seed(0),
    )
    assert sum(t.count("a") for t in r.texts) / max(1, sum(map(len, r.texts))) > 0.2


def test_trl_kl_uses_a_saved_reference(tiny_llama, trainer):
    name = tiny_llama.model.config._name_or_path
    stats = trainer.train(
        tiny_llama,
        PROBLEMS,
        prompt=prompt,
        reward=frac_a,
        settings=RLConfig(
            lr=3e-3,
            steps=3,
            batch_size=2,
            group_size=4,
            kl=0.1,
            sampling=SamplingConfig(max_new_tokens=8),
        ),
        seed=0,
    )
    assert stats.steps == 3 and max(stats.kl) > 0
    assert tiny_llama.model.config._name_or_path == name
