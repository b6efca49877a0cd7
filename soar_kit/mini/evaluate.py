"""Measurements of a soar-mini policy with plain ``model.generate`` (no backend needed).

Used by the tests and ``benchmarks/edge_of_learnability.py`` to check the edge-of-learnability
properties directly: success counts per problem (fail@k), per-level pass@1, and how often the
teacher's output is accepted by the domain's parser.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from soar_kit.domain import Domain
from soar_kit.records import Problem


def sample(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    n: int,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    chunk: int = 256,
) -> list[list[str]]:
    """``n`` completions per prompt (greedy when ``temperature == 0``), special tokens removed."""
    import torch

    torch.manual_seed(seed)
    out: list[list[str]] = []
    per_call = max(1, chunk // n)
    for i in range(0, len(prompts), per_call):
        part = list(prompts[i : i + per_call])
        enc = tokenizer(part, return_tensors="pt", padding=True, add_special_tokens=False)
        kwargs: dict[str, Any] = (
            {"do_sample": False}
            if temperature == 0
            else {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
        )
        with torch.no_grad():
            gen = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                num_return_sequences=1 if temperature == 0 else n,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                **kwargs,
            )
        texts = tokenizer.batch_decode(
            gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True
        )
        reps = 1 if temperature == 0 else n
        for j in range(len(part)):
            group = texts[j * reps : (j + 1) * reps]
            out.append(group * n if temperature == 0 else group)
    return out


def success_counts(
    model: Any,
    tokenizer: Any,
    domain: Domain,
    problems: Sequence[Problem],
    *,
    k: int,
    temperature: float = 1.0,
    max_new_tokens: int = 24,
    seed: int = 0,
) -> list[int]:
    """Per problem: how many of ``k`` samples the domain's verifier judges correct."""
    prompts = [domain.student_prompt(p) for p in problems]
    comps = sample(
        model,
        tokenizer,
        prompts,
        n=k,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        seed=seed,
    )
    return [
        sum(domain.verify(p, c).correct for c in cs) for p, cs in zip(problems, comps, strict=True)
    ]


def teacher_acceptance(
    model: Any,
    tokenizer: Any,
    domain: Domain,
    *,
    samples: int,
    temperature: float = 1.0,
    max_new_tokens: int = 96,
    seed: int = 0,
) -> dict[str, Any]:
    """Share of teacher samples the domain's ``parse_teacher_output`` accepts, with examples."""
    rng = random.Random(f"teacher-accept-{seed}")
    prompts = [domain.teacher_prompt(rng) for _ in range(samples)]
    comps = sample(
        model,
        tokenizer,
        prompts,
        n=1,
        temperature=temperature,
        max_new_tokens=max_new_tokens,
        seed=seed,
    )
    accepted: list[Problem] = []
    reasons: dict[str, int] = {}
    for i, (c,) in enumerate(comps):
        try:
            accepted.append(domain.parse_teacher_output(c, problem_id=f"t{i}"))
        except Exception as exc:
            reason = getattr(exc, "reason", type(exc).__name__)
            reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "samples": samples,
        "accepted": len(accepted),
        "rate": len(accepted) / max(1, samples),
        "rejections": reasons,
        "problems": accepted,
    }
