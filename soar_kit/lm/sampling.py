"""Batched autoregressive sampling with a KV cache, in plain torch (imported lazily).

Both the ``transformers`` generation backend and the built-in ``rloo`` trainer sample through
:func:`sample`. A hand-written loop instead of ``model.generate`` because the trainer needs the
exact token ids and a per-token mask of what the policy produced (up to and including the token
that completed EOS or a stop string), sampling must be deterministic in a seed without touching
the global RNG, and on CPU the loop is lighter than ``generate``'s general machinery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Rollout:
    """What one call to :func:`sample` produced, row ``i*n + j`` = sample ``j`` of prompt ``i``.

    ``prompt_ids``/``prompt_mask`` are left-padded; ``completion_ids`` are right-padded with the
    pad id, ``completion_mask`` is 1 on tokens the policy produced (EOS / the token that completed
    a stop string included). ``texts`` are the completions with EOS and stop strings cut.
    ``sampler_logprobs`` are the per-token log-probs the sampling engine reported (vLLM), where
    it did: a check that the engine sampled from the weights being trained.
    """

    prompt_ids: Any
    prompt_mask: Any
    completion_ids: Any
    completion_mask: Any
    texts: list[str]
    sampler_logprobs: Any = None

    @property
    def num_tokens(self) -> int:
        return int(self.completion_mask.sum().item())


def _top_p_filter(logits: Any, top_p: float) -> Any:
    """Keep the smallest set of tokens whose probability mass reaches ``top_p`` (nucleus)."""
    import torch

    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    probs = torch.softmax(sorted_logits, dim=-1)
    # drop a token when the mass strictly before it already reaches top_p (keeps at least one)
    drop = (probs.cumsum(dim=-1) - probs) >= top_p
    sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)


def _cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text, False) if cut < 0 else (text[:cut], True)


def sample(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    n: int = 1,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 64,
    stop: Sequence[str] = (),
    generator: Any = None,
    add_special_tokens: bool = False,
    adapters: Sequence[str] | None = None,
) -> Rollout:
    """Sample ``n`` completions for each prompt in one batch (no gradients).

    ``temperature == 0`` is greedy. Prompts are left-padded and position ids follow the attention
    mask so padding does not shift positions. Rows stop at EOS or once a stop string appears in
    their decoded text; the batch stops when every row has.

    Several students in one batch (:func:`soar_kit.lm.rloo.train_rloo_together`): ``adapters``
    names each prompt's peft adapter, and ``generator`` may be a sequence with one generator
    per prompt. Consecutive prompts with the same generator are one student: its rows draw
    together, and only while one of them is still live, so each student's random stream
    advances exactly as when it samples alone.
    """
    import torch

    from soar_kit.lm.lora import routed

    device = next(model.parameters()).device
    enc = tokenizer(
        list(prompts), return_tensors="pt", padding=True, add_special_tokens=add_special_tokens
    )
    prompt_ids = enc["input_ids"].repeat_interleave(n, dim=0).to(device)
    prompt_mask = enc["attention_mask"].repeat_interleave(n, dim=0).to(device)
    rows = prompt_ids.shape[0]
    pad_id = tokenizer.pad_token_id
    eos_ids = _eos_ids(model, tokenizer)
    eos = torch.tensor(sorted(eos_ids), device=device, dtype=torch.long)
    draws = _draw_blocks(generator, len(prompts), n)
    if adapters is not None and len(adapters) != len(prompts):
        raise ValueError(f"{len(adapters)} adapter names for {len(prompts)} prompts")
    per_row = None if adapters is None else [a for a in adapters for _ in range(n)]

    was_training = model.training
    model.eval()
    out_tokens: list[Any] = []
    done = torch.zeros(rows, dtype=torch.bool, device=device)
    lengths = torch.zeros(rows, dtype=torch.long, device=device)
    attn = prompt_mask
    texts_so_far: list[str] = [""] * rows
    try:
        with torch.no_grad(), routed(model, adapters, per_row):
            positions = (attn.cumsum(-1) - 1).clamp(min=0)
            # prefill each distinct prompt once and repeat its KV cache n times (the n samples
            # share the prompt); only the last position's logits are needed, so the LM head
            # skips the prompt
            uniq_ids, uniq_mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
            out = model(
                input_ids=uniq_ids,
                attention_mask=uniq_mask,
                position_ids=(uniq_mask.cumsum(-1) - 1).clamp(min=0),
                use_cache=True,
                **_keep_last(model, 1),
            )
            past = out.past_key_values
            logits = out.logits[:, -1, :].float()
            if n > 1:
                logits = logits.repeat_interleave(n, dim=0)
                if hasattr(past, "batch_repeat_interleave"):
                    past.batch_repeat_interleave(n)
                else:  # a cache type without it: prefill the repeated batch instead
                    out = model(
                        input_ids=prompt_ids,
                        attention_mask=attn,
                        position_ids=positions,
                        use_cache=True,
                        **_keep_last(model, 1),
                    )
                    past = out.past_key_values
            next_pos = positions[:, -1:] + 1
            for step in range(max_new_tokens):
                if step > 0:
                    logits = out.logits[:, -1, :].float()
                if temperature == 0.0:
                    token = logits.argmax(dim=-1)
                else:
                    logits = logits / temperature
                    if top_p < 1.0:
                        logits = _top_p_filter(logits, top_p)
                    probs = torch.softmax(logits, dim=-1)
                    token = torch.zeros(rows, dtype=torch.long, device=device)
                    for lo, hi, gen in draws:
                        if not bool(done[lo:hi].all()):
                            token[lo:hi] = torch.multinomial(
                                probs[lo:hi], 1, generator=gen
                            ).squeeze(-1)
                token = torch.where(done, torch.full_like(token, pad_id), token)
                out_tokens.append(token)
                lengths += (~done).long()
                finished = torch.isin(token, eos) & ~done
                if stop:
                    live = (~done & ~finished).nonzero().flatten().tolist()
                    if live:
                        seqs = torch.stack(out_tokens, dim=1)
                        decoded = tokenizer.batch_decode(
                            [seqs[i, : lengths[i]] for i in live], skip_special_tokens=True
                        )
                        for i, text in zip(live, decoded, strict=True):
                            if _cut_at_stop(text, stop)[1]:
                                finished[i] = True
                done |= finished
                if bool(done.all()):
                    break
                attn = torch.cat([attn, torch.ones_like(attn[:, :1])], dim=1)
                out = model(
                    input_ids=token[:, None],
                    attention_mask=attn,
                    position_ids=next_pos,
                    past_key_values=past,
                    use_cache=True,
                )
                past = out.past_key_values
                next_pos = next_pos + 1
    finally:
        model.train(was_training)
    completion_ids = torch.stack(out_tokens, dim=1)
    steps = completion_ids.shape[1]
    completion_mask = (torch.arange(steps, device=device)[None, :] < lengths[:, None]).long()
    for i, seq in enumerate(completion_ids.tolist()):
        toks = seq[: int(lengths[i])]
        if toks and toks[-1] in eos_ids:
            toks = toks[:-1]
        texts_so_far[i] = _cut_at_stop(tokenizer.decode(toks, skip_special_tokens=True), stop)[0]
    return Rollout(prompt_ids, prompt_mask, completion_ids, completion_mask, texts_so_far)


def _draw_blocks(generator: Any, prompts: int, n: int) -> list[tuple[int, int, Any]]:
    """Row ranges ``[lo, hi)`` that draw their tokens with one generator, in one call."""
    if not isinstance(generator, (list, tuple)):
        return [(0, prompts * n, generator)]
    if len(generator) != prompts:
        raise ValueError(f"{len(generator)} generators for {prompts} prompts")
    blocks: list[tuple[int, int, Any]] = []
    for i, gen in enumerate(generator):
        if blocks and blocks[-1][2] is gen:
            blocks[-1] = (blocks[-1][0], (i + 1) * n, gen)
        else:
            blocks.append((i * n, (i + 1) * n, gen))
    return blocks


def _keep_last(model: Any, n: int) -> dict[str, int]:
    """``logits_to_keep=n`` where the model's forward accepts it (all recent transformers LMs)."""
    import inspect

    # a peft wrapper forwards **kwargs to the model it wraps: look at that one's signature
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        params = inspect.signature(base.forward).parameters
    except (TypeError, ValueError, AttributeError):
        return {}
    return {"logits_to_keep": n} if "logits_to_keep" in params else {}


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config, tokenizer):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids


def completion_logprobs(
    model: Any,
    rollout: Rollout,
    rows: slice | None = None,
    *,
    chunk: int = 0,
    adapters: Sequence[str] | None = None,
) -> Any:
    """Per-token log-probabilities of ``rollout``'s completion tokens under ``model`` (with grad).

    Returns a ``(rows, completion_len)`` float32 tensor; positions outside ``completion_mask``
    hold garbage and must be masked by the caller.

    ``chunk > 0`` never materialises the full-vocabulary logits of the whole completion: the
    network runs once up to its last hidden state, then the LM head, the fp32 cast and the
    log-sum-exp run ``chunk`` positions at a time under activation checkpointing, so the
    backward pass recomputes each chunk's logits instead of keeping them. At the paper's shapes
    (64 rows x 1,024 tokens x a 128k vocabulary) the unchunked fp32 logits alone are ~34 GB;
    chunked, the peak is ``rows x chunk x vocab`` floats. The values equal the unchunked ones.

    ``adapters``: the peft adapter of every row of the rollout (several students at once).
    """
    import torch

    sl = rows if rows is not None else slice(None)
    names = None if adapters is None else list(adapters)[sl]
    p_ids, p_mask = rollout.prompt_ids[sl], rollout.prompt_mask[sl]
    c_ids, c_mask = rollout.completion_ids[sl], rollout.completion_mask[sl]
    ids = torch.cat([p_ids, c_ids], dim=1)
    mask = torch.cat([p_mask, c_mask], dim=1)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    width = c_ids.shape[1]
    if chunk > 0:
        return _chunked_logprobs(model, ids, mask, positions, c_ids, chunk, names)
    # logits at position t predict token t+1: the completion is predicted by the width positions
    # before its end; computing the LM head only there saves its cost over the prompt
    from soar_kit.lm.lora import routed

    with routed(model, names):
        logits = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=False,
            **_keep_last(model, width + 1),
        ).logits
    logits = logits[:, -width - 1 : -1, :].float()
    return _picked_minus_lse(logits, c_ids)


def _picked_minus_lse(logits: Any, targets: Any) -> Any:
    import torch

    # gather minus logsumexp: avoids a second (rows, len, vocab) tensor from log_softmax
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def _chunked_logprobs(
    model: Any,
    ids: Any,
    mask: Any,
    positions: Any,
    targets: Any,
    chunk: int,
    adapters: Sequence[str] | None,
) -> Any:
    import torch
    from torch.utils.checkpoint import checkpoint

    from soar_kit.lm.lora import routed

    width = targets.shape[1]
    with routed(model, adapters):
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=False,
            output_hidden_states=True,
            **_keep_last(model, 1),
        )
    hidden = out.hidden_states[-1][:, -width - 1 : -1, :]
    head = model.get_output_embeddings()
    if adapters is not None and hasattr(head, "lora_A"):
        # the head runs below outside the forward that routes rows to their adapters
        raise ValueError(
            "logprob_chunk with students trained together needs an output head without "
            "adapters (student.lora.target_modules)"
        )
    # the chunked path assumes logits = head(last hidden state); a model that post-processes
    # its logits (soft-capping, scaling) would be scored wrongly, so check it on the position
    # the model computed itself
    with torch.no_grad():
        own = out.logits[:, -1, :].float()
        mine = head(out.hidden_states[-1][:, -1, :]).float()
        if not torch.allclose(own, mine, rtol=1e-3, atol=1e-3):
            raise ValueError(
                f"logprob_chunk: {type(model).__name__}'s logits are not its output head applied "
                "to its last hidden state; use logprob_chunk=0 for this model"
            )

    def piece(h: Any, t: Any) -> Any:
        return _picked_minus_lse(head(h).float(), t)

    parts = [
        checkpoint(
            piece, hidden[:, lo : lo + chunk], targets[:, lo : lo + chunk], use_reentrant=False
        )
        for lo in range(0, width, chunk)
    ]
    return torch.cat(parts, dim=1)
