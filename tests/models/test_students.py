"""StudentPool: every student starts from the baseline; promotion moves the baseline."""

from __future__ import annotations

import pytest

from soar_kit.config import RLConfig, SamplingConfig
from soar_kit.contracts.backend import SamplingParams
from soar_kit.contracts.records import Problem
from soar_kit.students import StudentPool

torch = pytest.importorskip("torch")

PROBLEMS = [Problem(id=str(i), question=f"q{i}", answer="a", domain="toy") for i in range(4)]
SETTINGS = RLConfig(
    lr=3e-3, steps=4, batch_size=2, group_size=4, sampling=SamplingConfig(max_new_tokens=8)
)
GREEDY = SamplingParams(temperature=0.0, max_new_tokens=12)
PROMPTS = ["q1:", "q2:", "hello"]


def frac_a(p: Problem, c: str) -> float:
    return c.count("a") / max(1, len(c))


def train(student, seed: int, lr: float = 3e-3):
    from soarkit_plugins.trainers import RLOOTrainer

    RLOOTrainer().train(
        student,
        PROBLEMS,
        prompt=lambda p: p.question + ":",
        reward=frac_a,
        settings=SETTINGS.model_copy(update={"lr": lr}),
        seed=seed,
    )


def outputs(policy):
    from soarkit_plugins.backends import TransformersBackend

    return TransformersBackend().generate(policy, PROMPTS, GREEDY)


def logits(policy):
    ids = policy.tokenizer(["q1:abc"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return policy.model(input_ids=ids).logits


@pytest.mark.parametrize("mode", ["copy", "shared", "lora"])
def test_students_reset_to_baseline_and_promote(mode):
    from soar_kit.testing.tiny_models import tiny_policy

    pool = StudentPool(tiny_policy("llama", seed=0), mode=mode)
    base_logits = logits(pool.baseline())
    lr = 3e-2 if mode == "lora" else 3e-3

    first = pool.fresh()
    assert torch.allclose(logits(first), base_logits, atol=1e-6)
    train(first, seed=1, lr=lr)
    trained_logits = logits(first)
    assert not torch.allclose(trained_logits, base_logits, atol=1e-4)
    kept = pool.capture()

    second = pool.fresh()  # same working model, reset: identical to the baseline again
    assert torch.allclose(logits(second), base_logits, atol=1e-6)
    train(second, seed=2, lr=lr)
    assert torch.allclose(logits(pool.baseline()), base_logits, atol=1e-6)

    pool.promote(kept)
    assert torch.allclose(logits(pool.baseline()), trained_logits, atol=1e-5)
    assert torch.allclose(logits(pool.fresh()), trained_logits, atol=1e-5)
    assert pool.students_made == 3


def test_lora_trains_adapters_only_and_keeps_small_snapshots():
    from soar_kit.testing.tiny_models import tiny_policy

    policy = tiny_policy("llama", seed=0)
    n_full = sum(p.numel() for p in policy.model.parameters())
    pool = StudentPool(policy, mode="lora")
    student = pool.fresh()
    trainable = [p for p in student.model.parameters() if p.requires_grad]
    assert 0 < sum(p.numel() for p in trainable) < n_full / 2
    train(student, seed=0, lr=3e-2)
    assert sum(v.numel() for v in pool.capture().values()) < n_full / 2


def test_copy_mode_leaves_the_baseline_object_untouched():
    from soar_kit.testing.tiny_models import tiny_policy

    base = tiny_policy("gpt2", seed=0)
    before = outputs(base)
    pool = StudentPool(base, mode="copy")
    student = pool.fresh()
    assert student.model is not base.model
    train(student, seed=0)
    assert outputs(base) == before


def test_lora_student_kl_uses_the_base_without_a_copy():
    from soarkit_plugins.trainers import RLOOTrainer

    from soar_kit.testing.tiny_models import tiny_policy

    pool = StudentPool(tiny_policy("llama", seed=0), mode="lora")
    student = pool.fresh()
    stats = RLOOTrainer().train(
        student,
        PROBLEMS,
        prompt=lambda p: p.question + ":",
        reward=frac_a,
        settings=SETTINGS.model_copy(update={"lr": 3e-2, "kl": 0.5}),
        seed=0,
    )
    assert stats.kl[0] == pytest.approx(0.0, abs=1e-6)  # adapters start at zero: policy == base
    assert max(stats.kl[1:]) > 0
