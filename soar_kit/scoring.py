"""How well a policy does on problems: sample with a backend, judge with the domain.

Every measurement of SOAR is this one loop with other sampling settings: fail@k hard-set
mining (k samples at temperature 1), the Q_R accuracy of a student (greedy, or m samples), the
baseline's success rates (intrinsic rewards) and pass@k at the end. Each batch of completions of
a problem goes through :meth:`Domain.verify_many`, so a domain that verifies faster in bulk (the
code domain de-duplicates and runs its sandbox in parallel) is faster everywhere at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from soar_kit.config import RunConfig
from soar_kit.contracts.backend import GenerationBackend, SamplingParams
from soar_kit.contracts.domain import Domain
from soar_kit.contracts.model import Policy
from soar_kit.contracts.records import Problem
from soar_kit.metrics import mean_pass_at_k

#: The k of every pass@k that is reported (those up to the number of samples).
KS = (1, 4, 8, 16, 32)


def success_counts(
    domain: Domain,
    policy: Policy,
    backend: GenerationBackend,
    problems: Sequence[Problem],
    params: SamplingParams,
    *,
    chunk: int = 16,
    on_done: Callable[[int], None] | None = None,
) -> list[int]:
    """Correct samples out of ``params.n`` for each problem.

    One backend call for all problems: chunks of ``chunk`` prompts, each with its own seed,
    go to :meth:`~soar_kit.contracts.backend.GenerationBackend.generate_batch` together (an
    engine schedules them at once; the transformers backend runs them one by one, as before).
    ``on_done(i)`` is called once chunk ``i`` is sampled.
    """
    parts, requests = _requests(domain, problems, params, chunk)
    outs = backend.generate_batch(policy, requests, on_done=on_done) if requests else []
    return _counts(domain, parts, outs)


def _requests(
    domain: Domain, problems: Sequence[Problem], params: SamplingParams, chunk: int
) -> tuple[list[list[Problem]], list[tuple[list[str], SamplingParams]]]:
    parts: list[list[Problem]] = []
    requests: list[tuple[list[str], SamplingParams]] = []
    for start in range(0, len(problems), chunk):
        part = list(problems[start : start + chunk])
        seed = None if params.seed is None else params.seed + start
        parts.append(part)
        requests.append(
            ([domain.student_prompt(p) for p in part], params.model_copy(update={"seed": seed}))
        )
    return parts, requests


def _counts(
    domain: Domain, parts: Sequence[Sequence[Problem]], outs: Sequence[Sequence[Sequence[str]]]
) -> list[int]:
    counts: list[int] = []
    for part, out in zip(parts, outs, strict=True):
        for problem, completions in zip(part, out, strict=True):
            counts.append(sum(v.correct for v in domain.verify_many(problem, completions)))
    return counts


def greedy_accuracy(
    domain: Domain,
    policy: Policy,
    backend: GenerationBackend,
    problems: Sequence[Problem],
    max_new_tokens: int,
) -> float:
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens)
    counts = success_counts(domain, policy, backend, problems, params)
    return sum(counts) / len(counts) if counts else 0.0


def qr_accuracy(
    config: RunConfig,
    domain: Domain,
    policy: Policy,
    backend: GenerationBackend,
    problems: Sequence[Problem],
) -> float:
    """Accuracy on Q_R as the run's config measures it: greedy (the paper), or, with
    ``meta.qr_samples = m > 0``, the mean success of m samples at temperature 1.

    Why the option: on a hard set that greedy decoding never solves, a few inner steps rarely
    flip a greedy answer, so the grounded reward is 0 almost always; the sampled success rate
    moves with every small gain. Baseline and students sample with the same seed (common
    random numbers), so the difference measures the training, not the sampling noise.
    """
    params = qr_params(config)
    counts = success_counts(domain, policy, backend, problems, params)
    return _accuracy(counts, params)


def qr_params(config: RunConfig) -> SamplingParams:
    """How Q_R is sampled under ``config`` (see :func:`qr_accuracy`)."""
    m = config.meta.qr_samples
    max_new_tokens = config.student.rl.sampling.max_new_tokens
    if m == 0:
        return SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens)
    return SamplingParams(
        n=m, temperature=1.0, max_new_tokens=max_new_tokens, seed=config.seed * 7919 + 101
    )


def _accuracy(counts: Sequence[int], params: SamplingParams) -> float:
    return sum(counts) / (params.n * len(counts)) if counts else 0.0


def qr_accuracies(
    config: RunConfig,
    domain: Domain,
    policy: Policy,
    backend: GenerationBackend,
    states: Sequence[Mapping[str, Any]],
    problems: Sequence[Problem],
) -> list[float]:
    """:func:`qr_accuracy` of each LoRA student ``states[i]`` on ``policy``'s base, all in one
    :meth:`~soar_kit.contracts.backend.GenerationBackend.generate_adapters` call (an engine
    serving adapters samples the g*r students of a step together). Leaves ``policy`` holding
    some student's adapters where the backend loads them into it."""
    params = qr_params(config)
    parts, requests = _requests(domain, problems, params, 16)
    if not requests:
        return [0.0 for _ in states]
    outs = backend.generate_adapters(policy, states, requests)
    return [_accuracy(_counts(domain, parts, out), params) for out in outs]


def pass_at_ks(
    domain: Domain,
    policy: Policy,
    backend: GenerationBackend,
    problems: Sequence[Problem],
    *,
    samples: int,
    max_new_tokens: int,
    seed: int,
    top_p: float = 1.0,
) -> dict[str, float]:
    """Unbiased pass@k for every k in KS up to ``samples``, sampling at temperature 1."""
    params = SamplingParams(
        n=samples, temperature=1.0, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed
    )
    counts = success_counts(domain, policy, backend, problems, params)
    pairs = [(samples, c) for c in counts]
    return {f"pass@{k}": mean_pass_at_k(pairs, k) for k in KS if k <= samples}
