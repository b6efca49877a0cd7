"""Generic model helpers: dtype/device strings, snapshots, materialising weights."""

from __future__ import annotations

import pytest

from soar_kit.lm.weights import (
    materialize_,
    resolve_device,
    resolve_dtype,
    restore_state,
    snapshot_state,
)

torch = pytest.importorskip("torch")


def test_resolve_dtype_and_device():
    assert resolve_dtype("bfloat16") is torch.bfloat16
    assert resolve_dtype(torch.float16) is torch.float16
    with pytest.raises(ValueError, match="unknown dtype 'int3'"):
        resolve_dtype("int3")
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_snapshot_is_independent_and_restores_in_place(tiny_llama):
    model = tiny_llama.model
    snap = snapshot_state(model)
    param = next(model.parameters())
    storage = param.data_ptr()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert not torch.equal(snap["model.embed_tokens.weight"], model.model.embed_tokens.weight)
    restore_state(model, snap)
    assert torch.equal(snap["model.embed_tokens.weight"], model.model.embed_tokens.weight)
    assert param.data_ptr() == storage  # copied into the same tensors: no reallocation
    with pytest.raises(KeyError, match="snapshot lacks"):
        restore_state(model, {})


def test_materialize_copies_storage_and_keeps_values(tiny_llama):
    model = tiny_llama.model
    before = {n: (p.data_ptr(), p.detach().clone()) for n, p in model.named_parameters()}
    materialize_(model)
    for n, p in model.named_parameters():
        ptr, value = before[n]
        assert p.data_ptr() != ptr and torch.equal(p, value)
    # tied input/output embeddings stay one tensor
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_snapshot_keeps_tied_weights_shared(tiny_llama):
    from soar_kit.lm.weights import state_bytes

    snap = snapshot_state(tiny_llama.model)
    assert snap["lm_head.weight"] is snap["model.embed_tokens.weight"]
    n_params = sum(p.numel() for p in tiny_llama.model.parameters())  # tied counted once
    buffers = sum(b.numel() * b.element_size() for b in tiny_llama.model.buffers())
    assert state_bytes(snap) <= n_params * 4 + buffers
