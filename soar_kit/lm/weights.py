"""Generic helpers for loading and handling causal LMs (torch imported lazily).

Model sources (``transformers`` folders, the SmolLM2 GGUF, soar-mini) all end in the same few
steps: resolve a dtype/device string, load weights, make sure parameters live in ordinary
memory, put the model in eval mode and give the tokenizer a pad token. Those steps are here so
each source stays a few lines and every policy behaves the same way in the trainers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from soar_kit.weight_version import bump

#: A CPU snapshot of a model's weights: parameter/buffer name -> tensor.
StateDict = dict[str, Any]


def resolve_dtype(dtype: str | Any) -> Any:
    """``"float32"``/``"bfloat16"``/``"float16"`` (or a torch dtype) -> torch dtype."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    table = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    try:
        return table[str(dtype)]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r} (use one of {', '.join(table)})") from None


def resolve_device(device: str | None) -> str:
    """``"auto"``/``None`` -> ``"cuda"`` when a CUDA device is present, else ``"cpu"``."""
    if device in (None, "", "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def materialize_(model: Any) -> Any:
    """Copy every parameter and buffer into ordinary (non-mmap'd) memory, in place.

    Weights loaded from safetensors/GGUF can stay backed by a memory-mapped file; on CPU that
    made RL steps 5-10x slower (DESIGN.md). One clone at load time removes the effect.
    """
    import torch

    seen: set[int] = set()  # tied weights are one Parameter in two modules: clone it once
    with torch.no_grad():
        for module in model.modules():
            for _name, p in list(module.named_parameters(recurse=False)):
                if id(p) in seen:
                    continue
                seen.add(id(p))
                p.data = p.data.clone()
            for name, b in list(module.named_buffers(recurse=False)):
                if b is not None:
                    module._buffers[name] = b.clone()
    return model


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Give the tokenizer a pad token and left padding (batched sampling needs both)."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        else:
            tokenizer.add_special_tokens({"pad_token": "<pad>"})
    tokenizer.padding_side = "left"
    return tokenizer


def load_causal_lm(
    path: str | Path,
    *,
    dtype: str = "float32",
    device: str = "cpu",
    gguf_file: str | None = None,
    local_files_only: bool = True,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a folder or hub id, ready for sampling and training.

    ``local_files_only`` defaults to True because runs must not download at run time; pass False
    to allow the hub where the network permits. GGUF files are dequantized to ``dtype`` and their
    quantization config removed so the model can be trained and saved as plain weights.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = resolve_dtype(dtype)
    dev = resolve_device(device)
    extra: dict[str, Any] = {"local_files_only": local_files_only}
    if gguf_file is not None:
        extra["gguf_file"] = gguf_file
    tokenizer = AutoTokenizer.from_pretrained(str(path), **extra)
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype, **extra, **kwargs)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and hasattr(quantizer, "remove_quantization_config"):
        quantizer.remove_quantization_config(model)
    model.to(dev)
    materialize_(model)
    model.eval()
    prepare_tokenizer(tokenizer)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))
    return model, tokenizer


def snapshot_state(model: Any, device: str = "cpu") -> StateDict:
    """A detached copy of ``model``'s weights (on ``device``), independent of later updates.

    Tied tensors (input/output embeddings) are copied once and shared in the snapshot, as in
    the model: for SmolLM2 that saves a second 113 MB copy of the embedding per snapshot.
    """
    return clone_state(model.state_dict(), device=device)


def clone_state(state: Mapping[str, Any], device: str | None = None) -> StateDict:
    """Copy a state dict, keeping tensors that share storage shared in the copy."""
    import torch

    copies: dict[tuple[Any, ...], Any] = {}
    out: StateDict = {}
    with torch.no_grad():
        for k, v in state.items():
            key = (v.device, v.data_ptr(), tuple(v.shape), v.stride(), v.dtype)
            if key not in copies:
                copies[key] = v.detach().to(device or v.device, copy=True)
            out[k] = copies[key]
    return out


def state_bytes(state: Mapping[str, Any]) -> int:
    """Bytes held by a state dict, counting shared tensors once."""
    seen: dict[tuple[Any, ...], int] = {}
    for v in state.values():
        seen[(v.device, v.data_ptr())] = v.numel() * v.element_size()
    return sum(seen.values())


def restore_state(model: Any, state: Mapping[str, Any], *, partial: bool = False) -> Any:
    """Copy ``state`` back into ``model`` in place (no reallocation, so optimizers can be rebuilt
    cheaply and memory stays flat across the g*r students of an outer step).

    ``partial``: ``state`` holds only some tensors (a LoRA student's adapters); it must still
    hold every trainable one, so a student can never start from a trained leftover.
    """
    import torch

    with torch.no_grad():
        own = model.state_dict()
        if partial:
            unknown = set(state) - set(own)
            if unknown:
                raise KeyError(f"model has no tensors named e.g. {sorted(unknown)[:3]}")
            trainable = {n for n, p in model.named_parameters() if p.requires_grad}
            missing = trainable - set(state)
        else:
            missing = set(own) - set(state)
        if missing:
            raise KeyError(f"snapshot lacks {len(missing)} tensors, e.g. {sorted(missing)[:3]}")
        for k in state if partial else own:
            own[k].copy_(state[k])
    bump(model)  # an engine holding a copy of these weights must re-sync (weight_version)
    return model


def count_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
