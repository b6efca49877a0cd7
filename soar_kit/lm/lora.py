"""LoRA students on one frozen base (peft), the tensors that make a LoRA student and its base.

A LoRA student is the base model plus adapters; only the adapters train. Three kinds of state
therefore exist, and each has one function here:

* the **adapters** (:func:`adapter_state`): a student, kilobytes to megabytes;
* the **base** with its original parameter names (:func:`base_state`, :func:`load_base_state`):
  what a checkpoint or a remote worker needs, loadable by plain transformers;
* the **merge** (:func:`merge_adapters`): a promotion folds the chosen student into the base.

peft injects its layers into the model in place and renames the wrapped weights
(``q_proj.weight`` becomes ``base_model.model....q_proj.base_layer.weight``); the name mapping
lives in :func:`plain_name` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from soar_kit.lm.weights import StateDict
from soar_kit.weight_version import bump

if TYPE_CHECKING:  # any object with these fields will do (benchmarks/gpu_smoke.py: no pydantic)
    from soar_kit.config import LoraConfig

_PEFT_PREFIX = "base_model.model."


def inject_lora(model: Any, settings: LoraConfig, seed: int) -> Any:
    """Wrap ``model`` (in place) with fresh adapters; the random A matrices come from ``seed``
    alone, so a resumed run or a remote worker draws the same ones (B = 0: the wrapped model
    computes exactly what ``model`` did)."""
    import torch
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    _refuse_tied_head(model, settings)
    cfg = PeftLoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=(
            settings.target_modules
            if isinstance(settings.target_modules, str)
            else list(settings.target_modules)
        ),
        task_type="CAUSAL_LM",
    )
    devices = (
        [model.device] if getattr(model, "device", None) and model.device.type == "cuda" else []
    )
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        peft_model = get_peft_model(model, cfg)
    peft_model.eval()
    return peft_model


def _refuse_tied_head(model: Any, settings: LoraConfig) -> None:
    """An adapter on an output head that shares its weight with the input embedding would,
    once merged at a promotion, change the inputs too: the promoted model would not be the
    student that was measured."""
    from soar_kit.errors import ConfigError

    head, emb = model.get_output_embeddings(), model.get_input_embeddings()
    if isinstance(settings.target_modules, str) or head is None or emb is None:
        return  # "all-linear" leaves the output head out
    if head.weight is not emb.weight:
        return
    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if m is head}
    tied = sorted(names & set(settings.target_modules))
    if tied:
        raise ConfigError(
            f"student.lora.target_modules: {tied[0]!r} shares its weight with the input "
            "embedding in this model, so merging its adapter at a promotion would change the "
            "inputs too; leave it out"
        )


def adapter_state(model: Any) -> StateDict:
    """The trainable tensors (the adapters), detached copies on CPU."""
    return {
        n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad
    }


def plain_name(name: str) -> str:
    """A peft parameter name as the unwrapped model calls it."""
    if name.startswith(_PEFT_PREFIX):
        name = name[len(_PEFT_PREFIX) :]
    return name.replace(".base_layer.", ".")


def base_view(model: Any) -> StateDict:
    """The model's own base tensors (no copy) under their original names, adapters left out:
    what an engine syncs from, and what the two functions below copy from and into."""
    return {plain_name(k): v for k, v in model.state_dict().items() if "lora_" not in k}


def base_state(model: Any) -> StateDict:
    """The base weights under their original names (adapters left out), copied to CPU.

    Tensors shared in the model (tied embeddings) stay shared in the copy.
    """
    from soar_kit.lm.weights import clone_state

    return clone_state(base_view(model), device="cpu")


def load_base_state(model: Any, state: StateDict) -> None:
    """Copy base weights given under their original names into a peft model, in place."""
    import torch

    own = base_view(model)
    missing = set(own) - set(state)
    if missing:
        raise KeyError(f"base state lacks {len(missing)} tensors, e.g. {sorted(missing)[:3]}")
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(state[k])
    _bump_base(model)


def merge_adapters(model: Any, student: StateDict, fresh: StateDict) -> None:
    """Fold ``student``'s adapters into the base weights, then reset them to ``fresh`` (B = 0).

    merge (base += scale * B A) -> load the fresh adapters -> unmerge (base -= 0, which only
    clears peft's "merged" flag). The merge runs in the base's dtype; with fp32 bases it is
    exact up to one rounding of base + BA.
    """
    from soar_kit.lm.weights import restore_state

    restore_state(model, student, partial=True)
    model.merge_adapter()
    restore_state(model, fresh, partial=True)
    model.unmerge_adapter()
    _bump_base(model)


def _bump_base(model: Any) -> None:
    """The base changed: an engine holding it re-syncs it (its own version, apart from the
    adapters' whose every change would otherwise resend the whole base)."""
    bump(model)
    bump(model.get_base_model())
