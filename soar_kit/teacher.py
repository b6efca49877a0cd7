"""The teacher's side of SOAR: write problems, then learn from the datasets' rewards.

Sampling (SOAR.md, outer loop step 1): the teacher is prompted by the domain, its outputs are
parsed, malformed ones are rejected and resampled. Resampling instead of scoring rejects as 0
keeps RLOO unbiased: advantages sum to zero over the g datasets, which all hold valid problems.

Update (step 4): every problem of dataset X_k carries the reward R(X_k); the RLOO advantage of
X_k is R(X_k) minus the mean reward of the other g-1 datasets; the teacher maximises
advantage-weighted log-likelihood of its own outputs, with an optional KL to its start.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from soar_kit.config import RLConfig
from soar_kit.contracts.backend import GenerationBackend, SamplingParams
from soar_kit.contracts.domain import Domain
from soar_kit.contracts.model import Policy
from soar_kit.contracts.records import Problem
from soar_kit.errors import ProblemRejected, SoarKitError
from soar_kit.lm.memory import training_forward
from soar_kit.lm.rloo import k3_kl, policy_gradient_loss, rloo_advantages
from soar_kit.lm.sampling import Rollout, completion_logprobs
from soar_kit.weight_version import bump


@dataclass(frozen=True)
class TeacherSample:
    """One accepted teacher output: the prompt, the raw text, and the problem parsed from it."""

    prompt: str
    text: str
    problem: Problem


@dataclass
class TeacherBatch:
    samples: list[TeacherSample]
    tried: int
    rejections: Counter[str] = field(default_factory=Counter)

    @property
    def acceptance(self) -> float:
        return len(self.samples) / self.tried if self.tried else 0.0


def sample_problems(
    domain: Domain,
    teacher: Policy,
    backend: GenerationBackend,
    *,
    count: int,
    params: SamplingParams,
    rng: random.Random,
    max_tries: int,
    id_prefix: str,
    on_accept: Callable[[int], None] | None = None,
) -> TeacherBatch:
    """Sample until ``count`` valid problems, or fail clearly after ``max_tries`` outputs."""
    batch = TeacherBatch([], 0)
    seen: set[str] = set()
    seed = params.seed or 0
    while len(batch.samples) < count:
        if batch.tried >= max_tries:
            reasons = ", ".join(f"{r} ({n})" for r, n in batch.rejections.most_common(5))
            raise SoarKitError(
                f"domain '{domain.name}': only {len(batch.samples)} of {count} teacher outputs "
                f"were valid problems after {batch.tried} tries (rejections: {reasons or 'none'}); "
                "raise teacher.max_resample_factor or check the teacher prompt"
            )
        want = _request_size(backend, count - len(batch.samples), batch, max_tries)
        prompts = [domain.teacher_prompt(rng) for _ in range(want)]
        outs = backend.generate(teacher, prompts, params.model_copy(update={"seed": seed}))
        seed += 1
        for prompt, (text, *_) in zip(prompts, outs, strict=True):
            batch.tried += 1
            try:
                problem = domain.parse_teacher_output(
                    text, problem_id=f"{id_prefix}-{len(batch.samples)}"
                )
            except ProblemRejected as exc:
                batch.rejections[exc.reason] += 1
                continue
            if problem.question in seen:
                # duplicates within one step would let one question dominate a dataset
                batch.rejections["duplicate question"] += 1
                continue
            seen.add(problem.question)
            batch.samples.append(TeacherSample(prompt, text, problem))
            if on_accept:
                on_accept(1)
            if len(batch.samples) == count:
                break
    return batch


def _request_size(
    backend: GenerationBackend, missing: int, batch: TeacherBatch, max_tries: int
) -> int:
    """How many teacher prompts to send next.

    Historically twice what is missing, at most 64 per call (the transformers backend keeps
    exactly that, so its runs do not change). An engine that prefers large requests gets the
    whole phase in one call: what is missing divided by the acceptance seen so far (first
    call: assume 80 %), so a second call is needed only when more outputs were rejected.
    """
    left = max_tries - batch.tried
    if not backend.prefers_large_requests:
        return min(max(2 * missing, 8), 64, left)
    rate = max(batch.acceptance, 0.1) if batch.tried else 0.8
    return min(max(math.ceil(missing / rate), 8), left)


def split_datasets(samples: Sequence[TeacherSample], g: int, n: int) -> list[list[TeacherSample]]:
    """g datasets X_1..X_g of n problems each, in sampling order."""
    if len(samples) != g * n:
        raise ValueError(f"need {g * n} samples, got {len(samples)}")
    return [list(samples[k * n : (k + 1) * n]) for k in range(g)]


class TeacherUpdater:
    """RLOO over the g datasets of one outer step, with AdamW that persists across steps."""

    def __init__(
        self,
        teacher: Policy,
        *,
        lr: float,
        kl: float,
        weight_decay: float,
        max_grad_norm: float,
        epochs: int,
        micro_batch: int = 16,
        memory: RLConfig | None = None,
    ) -> None:
        import copy

        import torch

        self.teacher = teacher
        self.kl = kl
        self.max_grad_norm = max_grad_norm
        self.epochs = epochs
        self.micro_batch = micro_batch
        # logprob_chunk, gradient_checkpointing, autocast (soar_kit.lm.memory); None: all off
        self.memory = memory if memory is not None else RLConfig()
        params = [p for p in teacher.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        # the frozen start of the teacher, for the KL term (a full copy: only when kl > 0)
        self.reference = copy.deepcopy(teacher.model).eval() if kl > 0 else None
        if self.reference is not None:
            for p in self.reference.parameters():
                p.requires_grad_(False)

    @classmethod
    def from_config(cls, teacher: Policy, rl: RLConfig) -> TeacherUpdater:
        """The run's updater: ``teacher.rl`` settings, micro-batch 4 x batch_size by default."""
        return cls(
            teacher,
            lr=rl.lr,
            kl=rl.kl,
            weight_decay=rl.weight_decay,
            max_grad_norm=rl.max_grad_norm,
            epochs=rl.steps,
            micro_batch=rl.micro_batch or rl.batch_size * 4,
            memory=rl,
        )

    def update(
        self, datasets: Sequence[Sequence[TeacherSample]], rewards: Sequence[float]
    ) -> dict[str, float]:
        import torch

        advantages = rloo_advantages(rewards)
        if max(abs(a) for a in advantages) < 1e-12:
            return {"teacher_loss": 0.0, "teacher_kl": 0.0, "teacher_skipped": 1.0}
        items = [(s, a) for ds, a in zip(datasets, advantages, strict=True) for s in ds]
        model = self.teacher.model
        model.eval()  # no dropout: the update scores the distribution that sampled
        loss_sum, kl_sum = 0.0, 0.0
        for _ in range(self.epochs):
            self.optimizer.zero_grad(set_to_none=True)
            total_tokens = 0
            chunks = [
                items[i : i + self.micro_batch] for i in range(0, len(items), self.micro_batch)
            ]
            rollouts = [self._rollout([s for s, _ in c]) for c in chunks]
            total_tokens = sum(int(r.completion_mask.sum()) for r in rollouts)
            for chunk, rollout in zip(chunks, rollouts, strict=True):
                adv = torch.tensor([a for _, a in chunk], dtype=torch.float32)
                adv = adv.to(rollout.completion_ids.device)
                mask = rollout.completion_mask.float()
                chunk = self.memory.logprob_chunk
                with training_forward(model, self.memory):
                    logp = completion_logprobs(model, rollout, chunk=chunk)
                # token-level normalisation over the whole step: each token counts the same
                loss = policy_gradient_loss(logp, mask, adv, total_tokens, per_sequence=False)
                if self.reference is not None:
                    with torch.no_grad():
                        ref = completion_logprobs(self.reference, rollout, chunk=chunk)
                    kl = k3_kl(logp, ref, mask, total_tokens)
                    loss = loss + self.kl * kl
                    kl_sum += float(kl.detach())
                loss.backward()
                loss_sum += float(loss.detach())
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.max_grad_norm)
            self.optimizer.step()
            bump(model)  # the teacher's engine re-syncs before it samples again
        return {
            "teacher_loss": loss_sum / self.epochs,
            "teacher_kl": kl_sum / self.epochs,
            "teacher_skipped": 0.0,
        }

    def _rollout(self, samples: Sequence[TeacherSample]) -> Any:
        """Re-tokenise prompt and output text; the output gets EOS so the teacher learns to stop."""
        import torch

        tok = self.teacher.tokenizer
        device = self.teacher.device
        enc = tok(
            [s.prompt for s in samples], return_tensors="pt", padding=True, add_special_tokens=False
        )
        eos = tok.eos_token_id
        outs = [tok(s.text, add_special_tokens=False)["input_ids"] for s in samples]
        outs = [ids + ([eos] if eos is not None else []) for ids in outs]
        width = max(len(ids) for ids in outs)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        c_ids = torch.full((len(outs), width), pad, dtype=torch.long)
        c_mask = torch.zeros((len(outs), width), dtype=torch.long)
        for i, ids in enumerate(outs):
            c_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            c_mask[i, : len(ids)] = 1
        return Rollout(
            enc["input_ids"].to(device),
            enc["attention_mask"].to(device),
            c_ids.to(device),
            c_mask.to(device),
            [s.text for s in samples],
        )

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)


def posed_summary(problems: Sequence[Problem]) -> dict[str, Any]:
    """What the teacher posed, where the domain says (``problem.data``): the level of each
    question and whether the teacher's own answer was right. Both show *how* a teacher learns
    (harder questions? better answers?), which the reward alone cannot tell."""
    levels: dict[str, int] = {}
    right = known = 0
    for p in problems:
        data = p.data or {}
        if "level" in data:
            levels[str(data["level"])] = levels.get(str(data["level"]), 0) + 1
        if "teacher_answer_correct" in data:
            known += 1
            right += bool(data["teacher_answer_correct"])
    out: dict[str, Any] = {}
    if levels:
        out["levels_posed"] = dict(sorted(levels.items(), key=lambda kv: int(kv[0])))
    if known:
        out["teacher_answer_accuracy"] = right / known
    return out
