"""What a training step needs in memory and precision, checked before a run starts.

At the paper's shapes a run fails late and expensively in two ways that nothing in the maths
shows: it runs out of memory in its first inner step (minutes after loading, mining and teacher
sampling), or it trains bf16 weights with AdamW at lr 1e-6, where almost every update is smaller
than bf16's spacing and rounds to nothing -- the students never move, the gains are 0, and the
run looks like a method that does not work. Both are decidable from the model and the config
alone, so a run checks them in its first second (:func:`check_update_precision`,
:func:`check_training_fits`), and the trainers get the two tools that make the paper's shapes
fit: mixed precision with fp32 master weights and gradient checkpointing
(:func:`training_forward`); chunked log-probs live with the scoring
(:func:`soar_kit.lm.sampling.completion_logprobs`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from soar_kit.errors import ConfigError
from soar_kit.machine import available_memory_bytes

if TYPE_CHECKING:
    from soar_kit.config import RLConfig

#: Explicit mantissa bits: a value's neighbours are ``2**(exponent - bits)`` away.
_MANTISSA = {"torch.float32": 23, "torch.bfloat16": 7, "torch.float16": 10, "torch.float64": 52}
#: Below this share of trainable weights that a step of size lr can move, a run is refused.
MIN_MOVABLE_SHARE = 0.5
_GIB = 1024**3


def movable_share(model: Any, lr: float) -> float:
    """Share of ``model``'s trainable entries that an AdamW step of size ``lr`` can change.

    Adam's update is about ``lr`` per entry (exactly ``lr`` on the first step: the normalised
    moment is +-1), so an entry moves only where ``lr`` exceeds half the spacing of its dtype at
    its value; zeros always move.
    """
    import torch

    moved = total = 0
    for p in model.parameters():
        if not p.requires_grad:
            continue
        bits = _MANTISSA.get(str(p.dtype), 23)
        w = p.detach().abs().float()
        # spacing = 2**(floor(log2 |w|) - bits); zero -> always movable
        spacing = torch.exp2(torch.floor(torch.log2(w.clamp(min=1e-38))) - bits)
        moved += int(((w == 0) | (lr > spacing / 2)).sum())
        total += w.numel()
    return moved / total if total else 1.0


def check_update_precision(model: Any, lr: float, field: str) -> None:
    """Refuse a learning rate that the weights' dtype cannot represent as an update."""
    dtypes = {str(p.dtype) for p in model.parameters() if p.requires_grad}
    if dtypes <= {"torch.float32", "torch.float64"}:
        return
    share = movable_share(model, lr)
    if share < MIN_MOVABLE_SHARE:
        section = field.rsplit(".", 1)[0]
        raise ConfigError(
            f"{field}={lr:g} with {'/'.join(sorted(d.split('.')[1] for d in dtypes))} weights: "
            f"an AdamW step that small rounds to nothing for {1 - share:.0%} of the trainable "
            f"weights; use model.dtype=float32 with {section}.autocast=bfloat16 (fp32 master "
            "weights, bf16 compute) or a larger lr"
        )


@contextmanager
def training_forward(model: Any, settings: RLConfig) -> Iterator[None]:
    """The forward passes that get gradients: autocast and gradient checkpointing as configured.

    Transformers only checkpoints layers in ``train()`` mode, which would switch dropout on;
    the trainers score in ``eval()`` so that sampling and scoring see one distribution. So for
    the duration, every dropout is set to 0 (``nn.Dropout`` modules and the attention dropout
    rates that attention modules keep as floats) and put back afterwards.
    """
    import torch

    device = next(model.parameters()).device.type
    cast = (
        torch.autocast(device_type=device, dtype=getattr(torch, settings.autocast))
        if settings.autocast != "off"
        else nullcontext()
    )
    if not settings.gradient_checkpointing:
        with cast:
            yield
        return
    saved: list[tuple[Any, str, float]] = []
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            saved.append((module, "p", module.p))
        for name in ("attention_dropout", "dropout"):
            value = getattr(module, name, None)
            if isinstance(value, float) and not isinstance(module, torch.nn.Dropout):
                saved.append((module, name, value))
    for module, name, _ in saved:
        setattr(module, name, 0.0)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    try:
        with cast:
            yield
    finally:
        model.gradient_checkpointing_disable()
        model.eval()
        for module, name, value in saved:
            setattr(module, name, value)


# -- the memory estimate -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes one student training needs beyond the models already loaded, by term."""

    gradients: int
    optimizer: int
    reference: int
    activations: int
    logits: int

    @property
    def total(self) -> int:
        return self.gradients + self.optimizer + self.reference + self.activations + self.logits

    def largest(self) -> tuple[str, int]:
        terms = {k: getattr(self, k) for k in ("gradients", "optimizer", "reference")}
        terms |= {"activations": self.activations, "logits": self.logits}
        return max(terms.items(), key=lambda kv: kv[1])


def estimate_training_memory(
    model: Any, settings: RLConfig, *, prompt_tokens: int, micro_batch: int
) -> TrainingMemory:
    """A coarse upper estimate of one RL step's memory (the terms that grow at paper shapes).

    Activations: about ``(10 h + 4 f)`` values per token and layer kept for the backward pass
    (norm inputs, q/k/v, attention output, the MLP's gate/up/activation) at the compute dtype;
    with checkpointing, one ``h`` per token and layer plus one full layer. Logits: the fp32
    logits, their log-sum-exp temporaries and their gradient over every completion position of
    a micro-batch, or over ``logprob_chunk`` positions. Weights already loaded are not counted;
    the reference copy is (a full copy when ``kl > 0`` and the model is not a LoRA model).
    """
    config = model.config
    params = [p for p in model.parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in params)
    width = params[0].element_size() if params else 4
    n_all = sum(p.numel() for p in model.parameters())
    act = 2 if settings.autocast != "off" else width
    h = int(getattr(config, "hidden_size", getattr(config, "n_embd", 0)) or 0)
    f = int(getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * h)
    layers = int(getattr(config, "num_hidden_layers", getattr(config, "n_layer", 0)) or 0)
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    tokens = micro_batch * (prompt_tokens + settings.sampling.max_new_tokens)
    if settings.gradient_checkpointing:
        per_token = h * layers + (10 * h + 4 * f)
    else:
        per_token = (10 * h + 4 * f) * layers
    positions = settings.logprob_chunk or settings.sampling.max_new_tokens
    logits = micro_batch * min(positions, settings.sampling.max_new_tokens) * vocab * (act + 12)
    adapters = hasattr(model, "disable_adapter")
    reference = n_all * width if settings.kl > 0 and not adapters else 0
    return TrainingMemory(
        gradients=n_train * width,
        optimizer=n_train * 8 if width == 4 else n_train * 2 * width,
        reference=reference,
        activations=tokens * per_token * act,
        logits=logits,
    )


def free_memory(device: Any) -> int:
    """Bytes this process can still allocate on ``device`` (0 where unknown)."""
    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    return available_memory_bytes()


def check_training_fits(
    model: Any,
    settings: RLConfig,
    field: str,
    *,
    prompt_tokens: int,
    micro_batch: int,
    free: int | None = None,
) -> TrainingMemory:
    """Refuse, in one line naming the largest term and the knobs, a step that cannot fit."""
    need = estimate_training_memory(
        model, settings, prompt_tokens=prompt_tokens, micro_batch=micro_batch
    )
    have = free_memory(next(model.parameters()).device) if free is None else free
    if have and need.total > have:
        term, size = need.largest()
        raise ConfigError(
            f"{field}: one training step needs ~{_gib(need.total)} ({term} {_gib(size)}, "
            f"micro-batch {micro_batch} x {prompt_tokens + settings.sampling.max_new_tokens} "
            f"tokens) but {_gib(have)} is free; lower {field}.micro_batch, set "
            f"{field}.logprob_chunk or {field}.gradient_checkpointing=true"
        )
    return need


def _gib(n: float) -> str:
    return f"{n / _GIB:.1f} GiB" if n >= 0.1 * _GIB else f"{max(n, 0) / 2**20:.0f} MiB"


__all__ = [
    "MIN_MOVABLE_SHARE",
    "TrainingMemory",
    "check_training_fits",
    "check_update_precision",
    "estimate_training_memory",
    "free_memory",
    "movable_share",
    "training_forward",
]
