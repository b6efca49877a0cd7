"""Built-in student trainers: ``rloo`` (plain torch, always) and ``trl`` (TRL's RLOOTrainer).

No top-level torch/trl import: the CLI imports this module at start-up to list plugins.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
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

if TYPE_CHECKING:
    from soar_kit.config import RLConfig
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
    ) -> TrainStats:
        import tempfile
        import time

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
        micro = max(d for d in range(1, min(rows, self.micro_batch) + 1) if rows % d == 0)
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
                bf16=False,
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
                trainer = Trainer(
                    model=model,
                    reward_funcs=reward_func,
                    args=config,
                    train_dataset=data,
                    processing_class=tok,
                    callbacks=[_Progress()],
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


@hookimpl
def soarkit_register_trainers(register: Any) -> None:
    register(RLOOTrainer())
    register(TRLTrainer())
