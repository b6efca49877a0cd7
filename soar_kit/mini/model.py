"""The soar-mini network and its supervised pretraining loop.

A Llama-architecture causal LM of about a million parameters: small enough to pretrain in a
couple of minutes on two CPU cores, big enough to learn multi-digit arithmetic on short strings.
Llama (RoPE, no learned position table) rather than GPT-2 because relative positions are what
lets a model stretch to slightly longer problems than it was shown solved -- the stepping stones.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    from soar_kit.mini.corpus import MiniRecipe


def make_model(recipe: MiniRecipe, tokenizer: PreTrainedTokenizerFast, seed: int) -> Any:
    """A freshly initialised model (weights deterministic in ``seed``)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden,
        intermediate_size=recipe.ffn,
        num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads,
        num_key_value_heads=recipe.heads,
        max_position_embeddings=recipe.context,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        attention_dropout=0.0,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def count_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def pretrain(
    model: LlamaForCausalLM,
    tokenizer: PreTrainedTokenizerFast,
    texts: Sequence[str],
    recipe: MiniRecipe,
    seed: int,
    *,
    log: Callable[[str], None] | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Next-character prediction on ``texts`` (each ended by ``<eos>``); returns train stats.

    Batches are drawn by a seeded ``random.Random``; with a fixed thread count the run is
    bit-for-bit repeatable on one machine. Loss covers every character, prompts included: the
    model must also learn to *write* questions (the teacher's job).
    """
    import torch

    rng = random.Random(f"soar-mini-batches-{seed}")
    torch.manual_seed(seed)
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id
    raw = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    encoded = [[*ids, eos] for ids in raw]
    longest = max(len(e) for e in encoded)
    if longest > recipe.context:
        raise ValueError(f"a corpus text has {longest} tokens > context {recipe.context}")
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "norm" in name else decay).append(p)
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": recipe.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=recipe.lr,
        betas=(0.9, 0.98),
    )

    def lr_at(step: int) -> float:
        if step < recipe.warmup:
            return recipe.lr * (step + 1) / recipe.warmup
        frac = (step - recipe.warmup) / max(1, recipe.steps - recipe.warmup)
        return recipe.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))

    model.train()
    pending: list[list[int]] = []
    losses: list[float] = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for step in range(recipe.steps):
        if not pending:
            pending = _length_bucketed_batches(encoded, recipe.batch, rng)
        batch = [encoded[i] for i in pending.pop()]
        width = max(len(b) for b in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, b in enumerate(batch):
            ids[r, : len(b)] = torch.tensor(b)
            mask[r, : len(b)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(out.loss.detach()))
        if on_step is not None:
            on_step(step + 1, losses[-1])
        if log and (step % 50 == 0 or step == recipe.steps - 1):
            log(f"step {step:4d}  loss {losses[-1]:.4f}  {time.perf_counter() - start:.0f}s")
    model.eval()
    return {
        "steps": recipe.steps,
        "final_loss": sum(losses[-20:]) / min(20, len(losses)),
        "seconds": round(time.perf_counter() - start, 2),
        # CPU seconds of this process: wall time on an idle machine is about this divided by
        # the thread count, whatever else was running during the build
        "cpu_seconds": round(time.process_time() - cpu_start, 2),
        "threads": torch.get_num_threads(),
    }


def _length_bucketed_batches(
    encoded: Sequence[list[int]], batch: int, rng: random.Random, pool: int = 16
) -> list[list[int]]:
    """One epoch of index batches, each drawn from texts of similar length.

    Texts range from ~20 to ~250 characters; padding every batch to its longest text would
    waste about half the compute of a CPU build. Shuffle, sort within pools of ``pool`` batches
    by length, cut into batches, shuffle the batches: still random, far less padding.
    """
    order = list(range(len(encoded)))
    rng.shuffle(order)
    out: list[list[int]] = []
    span = batch * pool
    for i in range(0, len(order), span):
        chunk = sorted(order[i : i + span], key=lambda j: len(encoded[j]))
        out.extend(chunk[k : k + batch] for k in range(0, len(chunk), batch))
    out = [b for b in out if len(b) == batch] or out
    rng.shuffle(out)
    return out
