"""Tiny real causal LMs for tests and benchmarks (no downloads, built in milliseconds).

A character-level tokenizer (``tokenizers`` BPE with no merges, so every character is a token)
and a randomly initialised 2-layer Llama or GPT-2. Small enough that an RL step takes well under
a second on one CPU core, real enough that sampling, KV caching, padding and gradients run the
same code paths as SmolLM2.
"""

from __future__ import annotations

from typing import Any

from soar_kit.contracts.model import Policy

#: Characters the tiny tokenizer knows; anything else maps to ``<unk>``.
CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 +-=?:.,\n"
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")


def char_tokenizer(chars: str = CHARS) -> Any:
    """A fast character tokenizer with ``<pad>``, ``<s>``, ``</s>`` and ``<unk>``."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )
    tok.padding_side = "left"
    return tok


def tiny_policy(
    arch: str = "llama",
    *,
    seed: int = 0,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    max_positions: int = 256,
) -> Policy:
    """A random-init tiny causal LM (``arch`` = ``"llama"`` or ``"gpt2"``) with a char tokenizer."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    tok = char_tokenizer()
    common = {
        "vocab_size": len(tok),
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
    }
    torch.manual_seed(seed)
    if arch == "llama":
        cfg = LlamaConfig(
            hidden_size=hidden,
            intermediate_size=hidden * 2,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=heads,
            max_position_embeddings=max_positions,
            tie_word_embeddings=True,
            **common,
        )
        model = LlamaForCausalLM(cfg)
    elif arch == "gpt2":
        cfg = GPT2Config(
            n_embd=hidden,
            n_layer=layers,
            n_head=heads,
            n_positions=max_positions,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            **common,
        )
        model = GPT2LMHeadModel(cfg)
    else:
        raise ValueError(f"unknown tiny arch {arch!r} (llama, gpt2)")
    model.eval()
    return Policy(model=model, tokenizer=tok, spec=f"tiny-{arch}", info={"seed": seed})
