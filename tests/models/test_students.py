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


def test_lora_student_learns_on_the_mini_world():
    """LoRA students must still learn: adapters on the shipped soar-mini, RL on a middle level
    of its math world, at a LoRA learning rate; the training reward rises. (On a random tiny
    model, adapters on the linear layers alone barely move the output distribution, so the
    toy "a" task of the trainer's own test is no test of LoRA.)"""
    from soarkit_plugins.trainers import RLOOTrainer

    from soar_kit.config import LoraConfig
    from soar_kit.contracts.model import Policy
    from soar_kit.hardset import candidate_problems
    from soar_kit.mini.build import build_or_load
    from soar_kit.plugins import get_manager
    from soar_kit.students import train_on

    domain = get_manager().domain("math")
    built = build_or_load(domain)  # shipped with the package: loaded, not built
    base = Policy(model=built.model, tokenizer=built.tokenizer, spec="soar-mini")
    pool = StudentPool(base, mode="lora", lora=LoraConfig(r=8), lora_seed=1)
    problems = candidate_problems(domain, "mini:2", seed=3, size=64)
    settings = RLConfig(
        lr=2e-3, steps=12, batch_size=8, group_size=4, sampling=SamplingConfig(max_new_tokens=112)
    )
    stats = train_on(domain, RLOOTrainer(), pool.fresh(), problems, settings, seed=0)
    first, last = stats.mean_reward[:3], stats.mean_reward[-3:]
    assert sum(last) / 3 > sum(first) / 3 + 0.15, stats.mean_reward
    assert sum(p.numel() for p in pool.capture().values()) < sum(
        p.numel() for p in base.model.parameters()
    ) / 4


def test_lora_adapters_are_seeded_and_partial_states_must_cover_them():
    from soar_kit.lm.weights import restore_state
    from soar_kit.testing.tiny_models import tiny_policy

    a = StudentPool(tiny_policy("llama", seed=0), mode="lora", lora_seed=5).snapshot
    b = StudentPool(tiny_policy("llama", seed=0), mode="lora", lora_seed=5).snapshot
    c = StudentPool(tiny_policy("llama", seed=0), mode="lora", lora_seed=6).snapshot
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)

    pool = StudentPool(tiny_policy("llama", seed=0), mode="lora")
    some = dict(list(pool.snapshot.items())[:-1])
    with pytest.raises(KeyError, match="lacks 1 tensors"):
        restore_state(pool.fresh().model, some, partial=True)


def test_lora_baseline_saves_as_a_plain_model_and_loads_back(tmp_path):
    """A LoRA pool's baseline, promoted or not, is a folder plain transformers loads (a
    checkpoint, a Ray worker's model), computing what the pool's baseline computes; and
    set_base_weights puts such weights back (a resumed run)."""
    from soar_kit.lm.weights import load_causal_lm, snapshot_state
    from soar_kit.testing.tiny_models import tiny_policy

    original = tiny_policy("llama", seed=0)
    plain_keys = set(original.model.state_dict())
    pool = StudentPool(original, mode="lora")
    base_logits = logits(pool.baseline())
    assert set(pool.base_weights()) == plain_keys

    student = pool.fresh()
    train(student, seed=1, lr=3e-2)
    pool.promote(pool.capture())
    promoted_logits = logits(pool.baseline())
    assert not torch.allclose(promoted_logits, base_logits, atol=1e-4)

    for folder in (tmp_path / "first", tmp_path):  # saving twice: the pool's copy survives
        baseline, weights = pool.saveable()
        baseline.model.save_pretrained(folder, state_dict=weights, safe_serialization=True)
        baseline.tokenizer.save_pretrained(folder)
        assert set(pool.base_weights()) == plain_keys
    model, tokenizer = load_causal_lm(tmp_path)
    assert set(model.state_dict()) == plain_keys
    reloaded = type(original)(model=model, tokenizer=tokenizer, spec=str(tmp_path))
    assert torch.allclose(logits(reloaded), promoted_logits, atol=1e-5)

    fresh = StudentPool(tiny_policy("llama", seed=0), mode="lora")
    fresh.set_base_weights(snapshot_state(model))
    assert torch.allclose(logits(fresh.baseline()), promoted_logits, atol=1e-5)
    assert torch.allclose(logits(fresh.fresh()), promoted_logits, atol=1e-5)


def test_lora_on_a_tied_output_head_is_refused():
    from soar_kit.config import LoraConfig
    from soar_kit.errors import ConfigError
    from soar_kit.testing.tiny_models import tiny_policy

    tied = LoraConfig(target_modules=["q_proj", "lm_head"])
    with pytest.raises(ConfigError, match=r"student\.lora\.target_modules: 'lm_head' shares"):
        StudentPool(tiny_policy("llama", seed=0), mode="lora", lora=tied)
