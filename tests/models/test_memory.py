"""Memory and precision at the paper's shapes, checked on tiny real models.

What must hold: chunked log-probs are the unchunked ones (values and gradients), gradient
checkpointing and chunking leave an RL update unchanged, fp32 master weights with bf16 compute
move weights at lr 1e-6 where bf16 weights with plain AdamW do not, and a run that would round
its updates away or cannot fit is refused in one line before any work.
"""

from __future__ import annotations

import copy

import pytest

from soar_kit.config import RLConfig, RunConfig, SamplingConfig
from soar_kit.contracts.records import Problem
from soar_kit.errors import ConfigError
from soar_kit.lm.memory import (
    check_training_fits,
    check_update_precision,
    estimate_training_memory,
    movable_share,
)
from soar_kit.lm.rloo import train_rloo
from soar_kit.lm.sampling import completion_logprobs, sample

torch = pytest.importorskip("torch")

PROBLEMS = [Problem(id=str(i), question=f"q{i}", answer="a", domain="toy") for i in range(4)]


def _rollout(policy, seed=0):
    g = torch.Generator().manual_seed(seed)
    return sample(
        policy.model, policy.tokenizer, ["abc", "hello there", "1+2=", "zz"], n=2,
        temperature=1.0, top_p=1.0, max_new_tokens=12, generator=g,
    )  # fmt: skip


def _grads(model, rollout, chunk):
    model.zero_grad(set_to_none=True)
    logp = completion_logprobs(model, rollout, chunk=chunk)
    (logp * rollout.completion_mask).sum().backward()
    return logp.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("chunk", [1, 5, 64])
def test_chunked_logprobs_equal_unchunked_values_and_gradients(tiny, chunk):
    rollout = _rollout(tiny)
    mask = rollout.completion_mask.bool()
    a, ga = _grads(tiny.model, rollout, 0)
    b, gb = _grads(tiny.model, rollout, chunk)
    assert torch.allclose(a[mask], b[mask], atol=1e-5)
    assert len(ga) == len(gb) > 0
    assert all(torch.allclose(x, y, atol=1e-5) for x, y in zip(ga, gb, strict=True))


def test_chunked_logprobs_on_a_lora_model(tiny_llama):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(
        tiny_llama.model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    )
    for n, p in model.named_parameters():
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.1)  # adapters that change the outputs
    rollout = _rollout(tiny_llama)
    mask = rollout.completion_mask.bool()
    a, ga = _grads(model, rollout, 0)
    b, gb = _grads(model, rollout, 3)
    assert torch.allclose(a[mask], b[mask], atol=1e-5)
    assert all(torch.allclose(x, y, atol=1e-5) for x, y in zip(ga, gb, strict=True))


def _reward(p: Problem, text: str) -> float:
    return text.count("a") / max(1, len(text))


def _settings(**kw) -> RLConfig:
    base = {"lr": 1e-3, "steps": 2, "batch_size": 4, "group_size": 4}
    return RLConfig(**{**base, "sampling": SamplingConfig(max_new_tokens=12), **kw})


def _trained(policy, **kw):
    policy = copy.deepcopy(policy)
    train_rloo(
        policy, PROBLEMS, prompt=lambda p: p.question, reward=_reward, settings=_settings(**kw),
        seed=3, micro_batch=4,
    )  # fmt: skip
    return dict(policy.model.named_parameters())


def test_checkpointing_and_chunking_leave_the_update_unchanged(tiny):
    plain = _trained(tiny)
    lean = _trained(tiny, gradient_checkpointing=True, logprob_chunk=4, micro_batch=2)
    start = dict(tiny.model.named_parameters())
    assert any(not torch.equal(plain[k], start[k]) for k in plain)  # it did train
    for k in plain:
        assert torch.allclose(plain[k], lean[k], atol=1e-5), k


def test_checkpointing_puts_dropout_back_and_scores_without_it():
    from soar_kit.lm.memory import training_forward
    from soar_kit.testing.tiny_models import tiny_policy

    policy = tiny_policy("gpt2", seed=0)
    model = policy.model
    for m in model.modules():  # GPT-2's usual dropout (the tiny config has none)
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.1
    drops = {n: m.p for n, m in model.named_modules() if isinstance(m, torch.nn.Dropout)}
    assert drops and max(drops.values()) > 0
    rollout = _rollout(policy)
    mask = rollout.completion_mask.bool()
    with torch.no_grad():
        ref = completion_logprobs(model, rollout)
    settings = _settings(gradient_checkpointing=True)
    with training_forward(model, settings):
        assert model.training
        got = completion_logprobs(model, rollout)
    assert torch.allclose(ref[mask], got.detach()[mask], atol=1e-5)  # no dropout was applied
    assert not model.training
    assert {n: m.p for n, m in model.named_modules() if isinstance(m, torch.nn.Dropout)} == drops


def _changed_share(before, after) -> float:
    moved = sum(int((before[k] != after[k]).sum()) for k in before)
    return moved / sum(v.numel() for v in before.values())


def test_fp32_master_weights_move_at_lr_1e6_where_bf16_weights_do_not(tiny_llama):
    lr = 1e-6
    fp32 = tiny_llama
    bf16 = copy.deepcopy(tiny_llama)
    bf16.model.to(torch.bfloat16)
    assert movable_share(fp32.model, lr) == 1.0
    assert movable_share(bf16.model, lr) < 0.1
    start32 = {k: v.detach().clone() for k, v in fp32.model.named_parameters()}
    start16 = {k: v.detach().clone() for k, v in bf16.model.named_parameters()}
    master = _trained(fp32, lr=lr, steps=1, warmup_ratio=0.0, autocast="bfloat16")
    rounded = _trained(bf16, lr=lr, steps=1, warmup_ratio=0.0)
    moved_master = _changed_share(start32, {k: v.detach() for k, v in master.items()})
    moved_bf16 = _changed_share(start16, {k: v.detach() for k, v in rounded.items()})
    # embedding rows of characters that never occur get no gradient: not every entry can move
    assert moved_master > 0.5, moved_master
    assert moved_bf16 < 0.1 * moved_master, (moved_bf16, moved_master)


def test_bf16_weights_at_a_small_lr_are_refused_naming_the_fields(tiny_llama):
    model = copy.deepcopy(tiny_llama.model).to(torch.bfloat16)
    check_update_precision(model, 1e-2, "student.rl.lr")  # large steps survive bf16
    with pytest.raises(ConfigError, match=r"student\.rl\.lr=1e-06 with bfloat16 weights") as e:
        check_update_precision(model, 1e-6, "student.rl.lr")
    assert "student.rl.autocast=bfloat16" in str(e.value) and "\n" not in str(e.value)
    check_update_precision(tiny_llama.model, 1e-9, "student.rl.lr")  # fp32: always fine


def test_the_estimate_follows_the_knobs_and_a_step_that_cannot_fit_is_refused(tiny_llama):
    model = tiny_llama.model
    base = _settings(sampling=SamplingConfig(max_new_tokens=1024))
    full = estimate_training_memory(model, base, prompt_tokens=100, micro_batch=64)
    chunked = estimate_training_memory(
        model, _settings(sampling=SamplingConfig(max_new_tokens=1024), logprob_chunk=32),
        prompt_tokens=100, micro_batch=64,
    )  # fmt: skip
    ckpt = estimate_training_memory(
        model, _settings(sampling=SamplingConfig(max_new_tokens=1024), gradient_checkpointing=True),
        prompt_tokens=100, micro_batch=64,
    )  # fmt: skip
    assert chunked.logits * 32 == full.logits
    assert ckpt.activations < full.activations
    assert full.optimizer == 2 * full.gradients  # fp32 AdamW: two moments per weight
    with pytest.raises(ConfigError, match=r"^student\.rl: one training step needs ~") as e:
        check_training_fits(model, base, "student.rl", prompt_tokens=100, micro_batch=64, free=1)
    assert "student.rl.micro_batch" in str(e.value) and "\n" not in str(e.value)


def test_a_run_that_cannot_fit_or_rounds_its_updates_away_fails_before_any_work(tmp_path):
    from soar_kit.loop import run_soar

    huge = RunConfig(
        run_dir=tmp_path / "huge",
        student={"rl": {"micro_batch": 10**6, "batch_size": 10**4, "group_size": 10**3,
                        "sampling": {"max_new_tokens": 10**6}}},
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"^student\.rl: one training step needs"):
        run_soar(huge)
    assert not (tmp_path / "huge" / "hardset.json").exists()  # refused before mining
    bf16 = RunConfig(
        run_dir=tmp_path / "bf16", model={"dtype": "bfloat16"}, student={"rl": {"lr": 1e-6}}
    )
    with pytest.raises(ConfigError, match=r"^student\.rl\.lr=1e-06 with bfloat16 weights"):
        run_soar(bf16)


_HEAP_PROBE = r"""
import ctypes, ctypes.util, sys
from soar_kit.machine import fix_mmap_threshold, rss_bytes
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold(131072)
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
libc.free(libc.malloc(16 << 20))  # a freed mmapped block: glibc raises its threshold here
big, pins = [], []
for _ in range(64):  # 8 MiB blocks, each followed by a 64 KiB block that pins the heap
    p = libc.malloc(8 << 20)
    libc.memset(p, 1, 8 << 20)
    big.append(p)
    pins.append(libc.malloc(64 << 10))
before = rss_bytes()
for p in big:
    libc.free(p)
print(before - rss_bytes())
"""


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_fixed_mmap_threshold_gives_freed_activation_sized_blocks_back():
    """What ``model.malloc_mmap_threshold`` is for: with glibc's rising threshold, freed 8 MiB
    blocks stay in the process; fixed at 128 KiB, they go back to the system on free."""
    import subprocess
    import sys

    def returned(variant: str) -> int:
        out = subprocess.run([sys.executable, "-c", _HEAP_PROBE, variant],
                             capture_output=True, text=True, check=True)  # fmt: skip
        return int(out.stdout.strip())

    blocks = 64 * 8 << 20
    assert returned("fixed") > 0.9 * blocks
    assert returned("default") < 0.1 * blocks


def test_the_threshold_is_a_checked_model_field():
    from pydantic import ValidationError

    cfg = RunConfig.model_validate({"model": {"malloc_mmap_threshold": 131072}})
    assert cfg.model.malloc_mmap_threshold == 131072
    with pytest.raises(ValidationError, match="malloc_mmap_threshold"):
        RunConfig.model_validate({"model": {"malloc_mmap_threshold": 10}})


def test_the_update_memory_benchmark_runs_its_variants_on_a_tiny_model(tmp_path):
    """benchmarks/update_memory.py end to end at toy sizes: every variant in its own process,
    LoRA training fewer parameters, each update's marks in order (entry <= peak)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "update_memory.py"
    out = tmp_path / "um"
    cmd = [sys.executable, str(script), "--model", "tiny", "--rows", "4", "--width", "8",
           "--steps", "2", "--threads", "1", "--out", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600)
    result = json.loads(out.with_suffix(".json").read_text())
    runs = {(r["mode"], r["threshold"]): r for r in result["runs"]}
    assert set(runs) == {("full", 0), ("lora", 0), ("full", 131072), ("lora", 131072)}
    for mode_threshold, run in runs.items():
        assert len(run["steps"]) == 2, mode_threshold
        assert all(s["entry_mb"] <= s["peak_mb"] for s in run["steps"]), mode_threshold
    assert runs[("lora", 0)]["trainable_params"] < runs[("full", 0)]["trainable_params"]
    assert out.with_suffix(".md").read_text().count("| lora |") == 2
