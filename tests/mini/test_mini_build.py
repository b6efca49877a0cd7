from __future__ import annotations

from pathlib import Path

import pytest
import torch

from soar_kit.mini import build as build_mod
from soar_kit.mini import build_or_load, entry_path


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_build_is_deterministic(toy, tiny_recipe, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SOARKIT_CACHE", str(tmp_path / "a"))
    a = build_or_load(toy, seed=1, recipe=tiny_recipe)
    monkeypatch.setenv("SOARKIT_CACHE", str(tmp_path / "b"))
    b = build_or_load(toy, seed=1, recipe=tiny_recipe)
    assert a.built and b.built and a.path.name == b.path.name
    wa, wb = _weights(a.model), _weights(b.model)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    monkeypatch.setenv("SOARKIT_CACHE", str(tmp_path / "c"))
    c = build_or_load(toy, seed=2, recipe=tiny_recipe)
    assert c.path.name != a.path.name
    assert not all(torch.equal(wa[k], _weights(c.model)[k]) for k in wa)


def test_second_call_loads_from_cache(toy, tiny_recipe, mini_cache: Path) -> None:
    first = build_or_load(toy, seed=0, recipe=tiny_recipe)
    assert first.built
    assert first.path.parent == mini_cache / "soar-mini"
    assert first.path == entry_path(toy, seed=0, recipe=tiny_recipe)
    assert first.meta["params"] > 0 and first.meta["domain"] == "toyadd"
    second = build_or_load(toy, seed=0, recipe=tiny_recipe)
    assert not second.built and second.path == first.path
    wa, wb = _weights(first.model), _weights(second.model)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # the loaded tokenizer is the saved char tokenizer
    assert second.tokenizer.decode(second.tokenizer("12+3")["input_ids"]) == "12+3"


def test_killed_build_leaves_no_entry(toy, tiny_recipe, mini_cache: Path, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise KeyboardInterrupt  # as if the user hit Ctrl-C mid-build

    monkeypatch.setattr(build_mod, "pretrain", boom)
    with pytest.raises(KeyboardInterrupt):
        build_or_load(toy, seed=0, recipe=tiny_recipe)
    root = mini_cache / "soar-mini"
    assert not entry_path(toy, seed=0, recipe=tiny_recipe).exists()
    assert list(root.iterdir()) == []  # no half-written temp folder either
    monkeypatch.undo()
    monkeypatch.setenv("SOARKIT_CACHE", str(mini_cache))
    assert build_or_load(toy, seed=0, recipe=tiny_recipe).built


def test_stale_partial_entry_without_metadata_is_rebuilt(toy, tiny_recipe, mini_cache) -> None:
    path = entry_path(toy, seed=0, recipe=tiny_recipe)
    path.mkdir(parents=True)
    (path / "junk").write_text("half a build from an older, non-atomic writer")
    # the folder exists but has no metadata (written last): it is not trusted, but rebuilt
    rebuilt = build_or_load(toy, seed=0, recipe=tiny_recipe)
    assert rebuilt.built and not (path / "junk").exists()
