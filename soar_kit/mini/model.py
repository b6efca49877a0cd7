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
    order: list[int] = []
    losses: list[float] = []
    start = time.perf_counter()
    for step in range(recipe.steps):
        if len(order) < recipe.batch:
            fresh = list(range(len(encoded)))
            rng.shuffle(fresh)
            order.extend(fresh)
        idx, order = order[: recipe.batch], order[recipe.batch :]
        batch = [encoded[i] for i in idx]
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
        if log and (step % 50 == 0 or step == recipe.steps - 1):
            log(f"step {step:4d}  loss {losses[-1]:.4f}  {time.perf_counter() - start:.0f}s")
    model.eval()
    return {
        "steps": recipe.steps,
        "final_loss": sum(losses[-20:]) / min(20, len(losses)),
        "seconds": time.perf_counter() - start,
    }
