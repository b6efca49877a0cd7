"""The built-in rloo trainer: its pieces, and that it learns on a tiny real model."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from soar_kit.config import RLConfig, SamplingConfig
from soar_kit.contracts.records import Problem
from soar_kit.lm.rloo import batches, rloo_advantages, warmup_cosine
from soar_kit.plugins import PluginManager

torch = pytest.importorskip("torch")

PROBLEMS = [Problem(id=str(i), question=f"q{i}", answer="a", domain="toy") for i in range(8)]


def prompt(p: Problem) -> str:
    return p.question + ":"


def frac_a(p: Problem, completion: str) -> float:
    """Toy verifiable reward: the share of 'a' characters (a random-init model starts near 2%)."""
    return completion.count("a") / max(1, len(completion))


def settings(**kw) -> RLConfig:
    base = {
        "lr": 3e-3,
        "steps": 20,
        "batch_size": 4,
        "group_size": 8,
        "sampling": SamplingConfig(max_new_tokens=16),
    }
    return RLConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def trainer():
    return PluginManager(load_entry_points=False).get("trainer", "rloo")


def test_rloo_advantages_leave_one_out():
    r = torch.tensor([[1.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    adv = rloo_advantages(r)
    assert torch.allclose(adv[0], torch.tensor([1.0, -1 / 3, -1 / 3, -1 / 3]))
    assert torch.allclose(adv[1], torch.zeros(4))
    assert torch.allclose(adv.sum(-1), torch.zeros(2), atol=1e-6)
    with pytest.raises(ValueError):
        rloo_advantages(torch.ones(3, 1))


def test_warmup_cosine_schedule():
    f = [warmup_cosine(s, 10, 2) for s in range(10)]
    assert f[0] < f[1] < f[2] == 1.0
    assert all(a >= b for a, b in itertools.pairwise(f[2:]))
    assert math.isclose(warmup_cosine(10, 10, 2), 0.0, abs_tol=1e-9)
    flat = [warmup_cosine(s, 10, 2, decay=False) for s in range(10)]
    assert flat[:3] == f[:3] and flat[2:] == [1.0] * 8


def test_batches_cover_every_problem_each_epoch():
    it = batches(PROBLEMS, 3, random.Random(0))
    seen = [p.id for _ in range(8) for p in next(it)]  # 24 = 3 epochs
    for epoch in range(3):
        assert sorted(seen[epoch * 8 : (epoch + 1) * 8]) == sorted(p.id for p in PROBLEMS)


def test_rloo_learns_the_a_task(tiny, trainer):
    from soarkit_plugins.backends import TransformersBackend

    from soar_kit.contracts.backend import SamplingParams

    def greedy_score() -> float:
        outs = TransformersBackend().generate(
            tiny, [prompt(p) for p in PROBLEMS], SamplingParams(temperature=0, max_new_tokens=16)
        )
        return sum(frac_a(p, o[0]) for p, o in zip(PROBLEMS, outs, strict=True)) / len(PROBLEMS)

    before = greedy_score()
    steps: list[int] = []
    stats = trainer.train(
        tiny,
        PROBLEMS,
        prompt=prompt,
        reward=frac_a,
        settings=settings(),
        seed=0,
        on_step=lambda s, m: steps.append(s),
    )
    assert steps == list(range(1, 21)) and stats.steps == 20
    first, last = stats.mean_reward[:3], stats.mean_reward[-3:]
    assert sum(first) / 3 < 0.1
    assert sum(last) / 3 > sum(first) / 3 + 0.2, stats.mean_reward
    assert greedy_score() > before + 0.3
    assert stats.tokens > 0 and stats.seconds > 0


def test_deterministic_in_seed(trainer):
    from soar_kit.testing.tiny_models import tiny_policy

    def run(seed: int):
        pol = tiny_policy("llama", seed=0)
        st = trainer.train(
            pol, PROBLEMS, prompt=prompt, reward=frac_a, settings=settings(steps=3), seed=seed
        )
        return st.mean_reward, [p.detach().clone() for p in pol.model.parameters()]

    (r1, w1), (r2, w2), (r3, _) = run(1), run(1), run(2)
    assert r1 == r2
    assert all(torch.equal(a, b) for a, b in zip(w1, w2, strict=True))
    assert r1 != r3


def test_constant_reward_gives_no_update(tiny_llama, trainer):
    """Equal rewards in a group -> zero RLOO advantages -> the weights must not move."""
    before = [p.detach().clone() for p in tiny_llama.model.parameters()]
    trainer.train(
        tiny_llama,
        PROBLEMS,
        prompt=prompt,
        reward=lambda p, c: 1.0,
        settings=settings(steps=2),
        seed=0,
    )
    assert all(
        torch.equal(a, p) for a, p in zip(before, tiny_llama.model.parameters(), strict=True)
    )


def test_kl_to_reference_is_measured_and_restrains(trainer):
    from soar_kit.testing.tiny_models import tiny_policy

    def run(kl: float):
        pol = tiny_policy("llama", seed=0)
        start = [p.detach().clone() for p in pol.model.parameters()]
        st = trainer.train(
            pol, PROBLEMS, prompt=prompt, reward=frac_a, settings=settings(steps=6, kl=kl), seed=0
        )
        params = [p.detach() for p in pol.model.parameters()]
        drift = sum(float((p - s).pow(2).sum()) for p, s in zip(params, start, strict=True))
        return st, drift

    free, drift_free = run(0.0)
    held, drift_held = run(5.0)
    assert free.kl == [0.0] * 6
    assert held.kl[0] == pytest.approx(0.0, abs=1e-6)  # first step: policy == reference
    assert max(held.kl[1:]) > 0
    assert drift_held < drift_free
