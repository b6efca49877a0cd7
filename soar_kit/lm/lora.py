"""LoRA students on one frozen base (peft), the tensors that make a LoRA student and its base.

A LoRA student is the base model plus adapters; only the adapters train. Three kinds of state
therefore exist, and each has one function here:

* the **adapters** (:func:`adapter_state`): a student, kilobytes to megabytes;
* the **base** with its original parameter names (:func:`base_state`, :func:`load_base_state`):
  what a checkpoint or a remote worker needs, loadable by plain transformers;
* the **merge** (:func:`merge_adapters`): a promotion folds the chosen student into the base;
* **slots** (:func:`student_slots`): several students as separate adapters of one base, for
  training them together (:func:`soar_kit.lm.rloo.train_rloo_together`), and the forward that
  sends each row of a batch through its own student's adapter (:func:`routed`).

peft injects its layers into the model in place and renames the wrapped weights
(``q_proj.weight`` becomes ``base_model.model....q_proj.base_layer.weight``); the name mapping
lives in :func:`plain_name` only.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from soar_kit.lm.weights import StateDict
from soar_kit.weight_version import bump

if TYPE_CHECKING:  # any object with these fields will do (benchmarks/gpu_smoke.py: no pydantic)
    from soar_kit.config import LoraConfig

_PEFT_PREFIX = "base_model.model."
#: The adapter every student lives in, alone or as the first of several slots.
DEFAULT = "default"
_SLOT = re.compile(r"\.(lora_[A-Za-z_]+)\.default(?=\.)")


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


def _in_slot(name: str, slot: str) -> str:
    """A parameter name of the ``default`` adapter as adapter ``slot`` calls it."""
    return _SLOT.sub(lambda m: f".{m.group(1)}.{slot}", name)


@contextmanager
def student_slots(model: Any, states: Sequence[StateDict]) -> Iterator[list[str]]:
    """Hold ``len(states)`` students at once as adapters of one base: adapter ``names[i]``
    starts as ``states[i]`` (each in :func:`adapter_state`'s form), and all of them train.

    Slot 0 is the model's own ``default`` adapter; the others are added for the duration and
    deleted after, so the model leaves as it came, holding slot 0's student (read the others
    with :func:`slot_state` inside). Why slots rather than swapping one adapter in and out: one
    forward then serves every student (peft's mixed-adapter batch), reading the base once.
    """
    import torch

    names = [DEFAULT] + [f"student{i}" for i in range(1, len(states))]
    settings = model.peft_config[DEFAULT]
    try:
        # the new adapters' random init is overwritten at once; keep it off the global RNG
        with torch.random.fork_rng(devices=[]):
            for name in names[1:]:
                model.add_adapter(name, copy.deepcopy(settings))
        own = dict(model.named_parameters())
        with torch.no_grad():
            for name, state in zip(names, states, strict=True):
                wanted = {_in_slot(k, name): v for k, v in state.items()}
                mine = {k for k in own if "lora_" in k and f".{name}." in k}
                if set(wanted) != mine:
                    raise KeyError(f"a student state does not fit adapter slot {name!r}")
                for k, v in wanted.items():
                    own[k].copy_(v)
        for k, p in own.items():
            p.requires_grad_("lora_" in k)
        bump(model)
        yield names
    finally:
        for name in names[1:]:
            if name in model.peft_config:
                model.delete_adapter(name)
        for k, p in model.named_parameters():
            p.requires_grad_("lora_" in k and f".{DEFAULT}." in k)
        bump(model)


def slot_state(model: Any, slot: str) -> StateDict:
    """Adapter ``slot``'s tensors under the ``default`` adapter's names, copied to CPU: the
    student in the form :func:`adapter_state` gives and a :class:`~soar_kit.students.StudentPool`
    takes."""
    state = {}
    for k, p in model.named_parameters():
        if "lora_" in k and f".{slot}." in k:
            state[_from_slot(k, slot)] = p.detach().to("cpu", copy=True)
    return state


def _from_slot(name: str, slot: str) -> str:
    return re.sub(rf"\.(lora_[A-Za-z_]+)\.{re.escape(slot)}(?=\.)", r".\1.default", name)


@contextmanager
def routed(model: Any, *layouts: Sequence[str] | None) -> Iterator[None]:
    """Forward passes inside send row ``i`` of a batch through adapter ``layout[i]``, where
    ``layout`` is the one of ``layouts`` with as many names as the batch has rows (a sampler's
    prefill over the prompts and its decoding over their samples have different row counts).

    Why not peft's mixed-adapter batch (``adapter_names=``): it gathers each adapter's rows with
    a Python list of indices and scatters them back, in every adapter layer of every forward;
    on soar-mini that made two students sampled together 1.4x slower than one after another.
    Here the students' rows are contiguous runs (that is how the trainer lays them out), so each
    run is a slice (a view, no copy) and the adapters' outputs are joined once per layer. The
    arithmetic per row is peft's own: ``base(x) + B(A(x)) * scaling``.
    """
    given = [list(names) for names in layouts if names is not None]
    if not given:
        yield
        return
    runs: dict[int, list[tuple[int, int, str]]] = {}
    for names in given:
        blocks: list[tuple[int, int, str]] = []
        for i, name in enumerate(names):
            if blocks and blocks[-1][2] == name:
                blocks[-1] = (blocks[-1][0], i + 1, name)
            else:
                blocks.append((i, i + 1, name))
        if runs.get(len(names), blocks) != blocks:
            raise ValueError(f"two adapter layouts for batches of {len(names)} rows")
        runs[len(names)] = blocks
    layers = [m for m in model.modules() if hasattr(m, "lora_A") and hasattr(m, "base_layer")]
    for layer in layers:
        layer.forward = _routed_forward(layer, runs)
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


def _routed_forward(layer: Any, runs: dict[int, list[tuple[int, int, str]]]):
    import torch

    def forward(x: Any, *args: Any, **kwargs: Any) -> Any:
        blocks = runs.get(x.shape[0])
        if blocks is None:
            raise ValueError(f"no adapter layout for a batch of {x.shape[0]} rows")
        result = layer.base_layer(x, *args, **kwargs)
        parts = []
        for lo, hi, name in blocks:
            a = layer.lora_A[name]
            part = x[lo:hi].to(a.weight.dtype)
            parts.append(
                layer.lora_B[name](a(layer.lora_dropout[name](part))) * layer.scaling[name]
            )
        return result + torch.cat(parts).to(result.dtype)

    return forward
