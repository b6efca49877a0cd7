"""RLOO, once for the whole project: the advantages and loss terms the teacher update uses, and
the built-in student trainer, in plain torch, readable top to bottom.

One optimizer step (SOAR.md, "Outer loop" step 2 and the teacher update in step 4):

1. take ``batch_size`` problems (a seeded shuffle, epoch after epoch);
2. the policy itself samples ``group_size`` completions per problem (no gradients);
3. reward every completion; RLOO advantage = own reward minus the mean of the *other*
   completions of the same problem (leave-one-out baseline: unbiased, and it sums to zero in a
   group, so a group where all rewards are equal gives no gradient at all);
4. loss = -mean(advantage * log pi(completion)) with the log-probability summed over completion
   tokens and divided by ``max_new_tokens`` (a constant, so long and short completions are
   weighted as in plain REINFORCE, just rescaled), plus ``kl`` times the mean per-token KL to the
   starting weights (the "k3" estimator, always >= 0);
5. clip the gradient norm, AdamW step, linear warmup, then a cosine
   (or constant) learning rate.

Every sample is used for exactly one on-policy gradient step, so no importance ratio or clipping
is needed. Dropout is off throughout (``eval()``) so that sampling and scoring see the same
distribution. Deterministic in ``seed``: the problem order comes from ``random.Random(seed)``
and sampling from a private ``torch.Generator``; the global RNGs are not touched.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from soar_kit.contracts.backend import SamplingParams
from soar_kit.contracts.records import Problem
from soar_kit.contracts.trainer import (
    PromptFn,
    RewardFn,
    StepCallback,
    TrainStats,
    group_rewards,
)
from soar_kit.lm.memory import training_forward
from soar_kit.lm.sampling import completion_logprobs, sample
from soar_kit.weight_version import bump

if TYPE_CHECKING:
    from soar_kit.config import RLConfig
    from soar_kit.contracts.backend import GenerationBackend
    from soar_kit.contracts.model import Policy


def rloo_advantages(rewards: Any) -> Any:
    """Leave-one-out advantages ``A_i = r_i - mean(r_j, j != i)`` within each group.

    Zero-sum in a group, so a group where all rewards are equal gives no gradient, and resampling
    rejected teacher outputs (instead of scoring them 0) keeps the estimate unbiased. Takes a
    tensor of shape ``(prompts, group)`` (the students: groups of completions) or a plain
    sequence of floats, one group (the teacher: the g datasets of a step), computed in Python
    floats then.
    """
    if hasattr(rewards, "shape"):
        group = rewards.shape[-1]
        if group < 2:
            raise ValueError("RLOO needs a group of at least 2 samples per prompt")
        total = rewards.sum(dim=-1, keepdim=True)
        return rewards - (total - rewards) / (group - 1)
    group = len(rewards)
    if group < 2:
        raise ValueError("RLOO needs a group of at least 2")
    total = sum(rewards)
    return [r - (total - r) / (group - 1) for r in rewards]


def policy_gradient_loss(
    logp: Any, mask: Any, advantages: Any, norm: Any, *, per_sequence: bool
) -> Any:
    """``-sum(A * log pi(completion)) / norm``, the REINFORCE term of both RLOO updates.

    ``logp``/``mask`` are per completion token ``(rows, tokens)``, ``advantages`` one per row.
    The student sums each completion's log-probability first (``per_sequence=True``, ``norm`` a
    constant: rows x max_new_tokens); the teacher weights every token (``norm``: the step's
    token count). Both orders give the same number up to float rounding; each caller keeps its
    own so that a run reproduces the results it gave before the two were one function.
    """
    if per_sequence:
        return -(advantages * (logp * mask).sum(dim=-1)).sum() / norm
    return -(advantages[:, None] * logp * mask).sum() / norm


def k3_kl(logp: Any, ref_logp: Any, mask: Any, norm: Any) -> Any:
    """Mean per-token KL to the reference, the "k3" estimator ``exp(d) - d - 1`` (always >= 0),
    with ``d = log ref - log pi``, summed over ``mask`` and divided by ``norm``."""
    import torch

    delta = ref_logp - logp
    return ((torch.exp(delta) - delta - 1.0) * mask).sum() / norm


def warmup_cosine(step: int, total: int, warmup: int, *, decay: bool = True) -> float:
    """Learning-rate factor at ``step`` (0-based): linear warmup to 1, then cosine to 0, or,
    with ``decay=False``, 1 to the end (``schedule = "constant"``)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / (warmup + 1)
    if not decay:
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def batches(problems: Sequence[Problem], batch_size: int, rng: random.Random):
    """Endless seeded batches: shuffle, walk through, reshuffle (each problem once per epoch)."""
    order: list[int] = []
    while True:
        batch = []
        while len(batch) < batch_size:
            if not order:
                order = list(range(len(problems)))
                rng.shuffle(order)
            batch.append(problems[order.pop()])
        yield batch


def train_rloo(
    policy: Policy,
    problems: Sequence[Problem],
    *,
    prompt: PromptFn,
    reward: RewardFn,
    settings: RLConfig,
    seed: int,
    on_step: StepCallback | None = None,
    micro_batch: int = 64,
    stop: Sequence[str] = (),
    reference: Any = None,
    backend: GenerationBackend | None = None,
) -> TrainStats:
    """Update ``policy.model`` in place with ``settings.steps`` RLOO steps (see module doc).

    ``micro_batch`` bounds how many sequences are scored with gradients at once (memory only;
    the update is the same); ``settings.micro_batch`` overrides it. ``settings.logprob_chunk``,
    ``gradient_checkpointing`` and ``autocast`` shape the memory of the scoring forward
    (:mod:`soar_kit.lm.memory`). ``reference`` is the model the KL is measured against; by default,
    when ``settings.kl > 0``, a frozen copy of the starting weights (for a peft/LoRA model: the
    same model with its adapters disabled, which is the base it started from only when the
    adapters started at zero, as in :class:`~soar_kit.students.StudentPool`).
    ``backend`` samples the rollouts where it has rollouts of its own (vLLM, which re-syncs its
    engine after each step); otherwise, and with ``None``, ``policy.model`` samples directly.
    """
    return _train(
        policy,
        [(problems, seed)],
        None,
        prompt=prompt,
        reward=reward,
        settings=settings,
        on_step=on_step,
        micro_batch=micro_batch,
        stop=stop,
        reference=reference,
        backend=backend,
    )[0]


def train_rloo_together(
    policy: Policy,
    students: Sequence[tuple[Sequence[Problem], int]],
    adapters: Sequence[str],
    *,
    prompt: PromptFn,
    reward: RewardFn,
    settings: RLConfig,
    micro_batch: int = 64,
    stop: Sequence[str] = (),
) -> list[TrainStats]:
    """Train several LoRA students of one frozen base at once: student ``i`` (its problems and
    seed) is the peft adapter ``adapters[i]`` of ``policy.model``.

    Each step samples every student's rollouts in one batch and scores them in one forward and
    backward, each row through its own adapter (peft's mixed-adapter batch); each student keeps
    its own problem order, random stream, gradient clipping and AdamW state. The students' losses
    are summed and their adapters are disjoint, so every student gets exactly its own gradient:
    the result is :func:`train_rloo` on each student, one after another, up to float rounding
    (batch composition and padding change the order of sums, not the maths). What it buys is
    fewer, larger batches over the base, whose weights are read once per step for all students.
    """
    if len(adapters) != len(students):
        raise ValueError(f"{len(adapters)} adapters for {len(students)} students")
    if settings.gradient_checkpointing:
        # checkpointed layers recompute in the backward pass, outside the forward that routes
        # each row to its adapter: they would recompute with the wrong one
        raise ValueError(
            "student.rl.gradient_checkpointing cannot be used with students trained together "
            "(student.lora.together > 1)"
        )
    return _train(
        policy,
        students,
        list(adapters),
        prompt=prompt,
        reward=reward,
        settings=settings,
        on_step=None,
        micro_batch=micro_batch,
        stop=stop,
        reference=None,
        backend=None,
    )


def _train(
    policy: Policy,
    students: Sequence[tuple[Sequence[Problem], int]],
    adapters: list[str] | None,
    *,
    prompt: PromptFn,
    reward: RewardFn,
    settings: RLConfig,
    on_step: StepCallback | None,
    micro_batch: int,
    stop: Sequence[str],
    reference: Any,
    backend: GenerationBackend | None,
) -> list[TrainStats]:
    """The RLOO loop for one student (``adapters`` None) or several in lockstep."""
    import torch

    if any(not problems for problems, _ in students):
        raise ValueError("no problems to train on")
    model, tok = policy.model, policy.tokenizer
    device = policy.device
    sampling = settings.sampling
    group, steps = settings.group_size, settings.steps
    micro_batch = settings.micro_batch or micro_batch
    n_students = len(students)
    rngs = [random.Random(seed) for _, seed in students]
    generators = []
    for _, seed in students:
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
        generators.append(generator)

    # a LoRA (peft) student's reference is its own base: adapters off, no second copy in memory
    adapters_off = settings.kl > 0 and reference is None and hasattr(model, "disable_adapter")
    if settings.kl > 0 and reference is None and not adapters_off:
        reference = copy.deepcopy(model).eval()
        for p in reference.parameters():
            p.requires_grad_(False)
    # each student's own parameters, AdamW and schedule (all of them with one student)
    if adapters is None:
        owned = [[p for p in model.parameters() if p.requires_grad]]
    else:
        owned = [
            [p for n, p in model.named_parameters() if p.requires_grad and f".{name}." in n]
            for name in adapters
        ]
        if any(not params for params in owned):
            raise ValueError(f"no trainable adapter among {adapters}")
    optimizers = [
        torch.optim.AdamW(
            params, lr=settings.lr, weight_decay=settings.weight_decay, betas=(0.9, 0.999)
        )
        for params in owned
    ]
    warmup = round(settings.warmup_ratio * steps)
    schedulers = [
        torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda s: warmup_cosine(s, steps, warmup, decay=settings.schedule == "cosine"),
        )
        for optimizer in optimizers
    ]

    all_stats = [TrainStats() for _ in students]
    start = time.perf_counter()
    model.eval()
    batch_iters = [
        batches(problems, settings.batch_size, rng)
        for (problems, _), rng in zip(students, rngs, strict=True)
    ]
    per = settings.batch_size * group  # rows of one student in a step
    for step in range(steps):
        student_batches = [next(it) for it in batch_iters]
        # 2. sample with the policy itself (through the run's engine where it has one)
        prompts = [prompt(p) for batch in student_batches for p in batch]
        rollout = None
        if backend is not None:
            draw = SamplingParams.from_config(
                sampling,
                n=group,
                stop=tuple(stop),
                seed=(students[0][1] * 1_000_003 + step) & 0x7FFFFFFF,  # the engine's stream
            )
            rollout = backend.rollout(policy, prompts, draw, generator=generators[0])
        if rollout is None:
            rollout = sample(
                model,
                tok,
                prompts,
                n=group,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_new_tokens=sampling.max_new_tokens,
                stop=stop,
                generator=(
                    generators[0]
                    if adapters is None
                    else [g for g in generators for _ in range(settings.batch_size)]
                ),
                adapters=(
                    None
                    if adapters is None
                    else [a for a in adapters for _ in range(settings.batch_size)]
                ),
            )
        # 3. rewards and leave-one-out advantages
        texts = rollout.texts  # group completions per prompt, prompt after prompt
        problems_flat = [p for batch in student_batches for p in batch]
        rewards = torch.tensor(
            [
                r
                for j, problem in enumerate(problems_flat)
                for r in group_rewards(reward, problem, texts[j * group : (j + 1) * group])
            ],
            dtype=torch.float32,
            device=device,
        )
        advantages = rloo_advantages(rewards.view(len(problems_flat), group)).flatten()
        # 4. policy-gradient loss (+ KL), accumulated over micro-batches
        rows = rewards.shape[0]
        mask = rollout.completion_mask.float()
        n_tokens = [mask[s * per : (s + 1) * per].sum().clamp(min=1.0) for s in range(n_students)]
        row_adapters = None if adapters is None else [a for a in adapters for _ in range(per)]
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss_totals, kl_totals = [0.0] * n_students, [0.0] * n_students
        chunk = settings.logprob_chunk
        for lo in range(0, rows, micro_batch):
            sl = slice(lo, min(rows, lo + micro_batch))
            ref_logp = None
            if settings.kl > 0:
                with torch.no_grad():
                    if adapters_off:
                        with model.disable_adapter():
                            ref_logp = completion_logprobs(model, rollout, sl, chunk=chunk)
                        # peft's re-enable leaves only the active adapter trainable
                        for params in owned:
                            for p in params:
                                p.requires_grad_(True)
                    else:
                        ref_logp = completion_logprobs(reference, rollout, sl, chunk=chunk)
            with training_forward(model, settings):
                logp = completion_logprobs(model, rollout, sl, chunk=chunk, adapters=row_adapters)
            loss = None
            # each student's rows in this micro-batch, with its own normalisation
            for s in range(sl.start // per, (sl.stop - 1) // per + 1):
                a, b = max(sl.start, s * per), min(sl.stop, (s + 1) * per)
                part = slice(a - sl.start, b - sl.start)
                m = mask[a:b]
                term = policy_gradient_loss(
                    logp[part],
                    m,
                    advantages[a:b],
                    per * sampling.max_new_tokens,
                    per_sequence=True,
                )
                if ref_logp is not None:
                    kl = k3_kl(logp[part], ref_logp[part], m, n_tokens[s])
                    term = term + settings.kl * kl
                    kl_totals[s] += float(kl.detach())
                loss_totals[s] += float(term.detach())
                loss = term if loss is None else loss + term
            assert loss is not None
            loss.backward()
        # 5. clip, step, schedule
        grad_norms = []
        for params, optimizer, scheduler in zip(owned, optimizers, schedulers, strict=True):
            grad_norms.append(torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm))
            optimizer.step()
            scheduler.step()
        bump(model)  # an engine holding a copy re-syncs before the next rollout

        for s, stats in enumerate(all_stats):
            rows_s = slice(s * per, (s + 1) * per)
            stats.steps += 1
            stats.mean_reward.append(float(rewards[rows_s].mean()))
            stats.loss.append(loss_totals[s])
            stats.kl.append(kl_totals[s])
            stats.tokens += int(rollout.completion_mask[rows_s].sum().item())
        if on_step is not None:
            stats = all_stats[0]
            on_step(
                step + 1,
                {
                    "reward": stats.mean_reward[-1],
                    "loss": loss_totals[0],
                    "kl": kl_totals[0],
                    "grad_norm": float(grad_norms[0]),
                    "lr": schedulers[0].get_last_lr()[0],
                    "tokens": float(rollout.num_tokens),
                },
            )
    seconds = time.perf_counter() - start
    for stats in all_stats:
        stats.seconds = seconds
    policy.info["trained"] = True
    return all_stats
