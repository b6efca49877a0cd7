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


def test_shipped_build_is_used_only_when_its_key_matches(
    toy, tiny_recipe, tmp_path, monkeypatch
) -> None:
    from dataclasses import replace

    monkeypatch.setattr(build_mod, "shipped_root", lambda: tmp_path / "shipped")
    monkeypatch.setenv("SOARKIT_CACHE", str(tmp_path / "a"))
    made = build_or_load(toy, seed=0, recipe=tiny_recipe)
    shipped = build_mod.ship(made)
    assert shipped == tmp_path / "shipped" / made.path.name
    assert (shipped / build_mod.META_FILE).is_file()
    assert not (shipped / "corpus-sample.txt").exists()  # only what loading needs travels

    monkeypatch.setenv("SOARKIT_CACHE", str(tmp_path / "empty"))
    loaded = build_or_load(toy, seed=0, recipe=tiny_recipe)
    assert not loaded.built and loaded.path == shipped
    w0, w1 = _weights(made.model), _weights(loaded.model)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert not (tmp_path / "empty").exists()  # nothing was built

    # another recipe has another key: the shipped weights are not used for it
    other = build_or_load(toy, seed=0, recipe=replace(tiny_recipe, steps=9))
    assert other.built and other.path.parent == tmp_path / "empty" / "soar-mini"

    # opt out: build even though a shipped entry matches
    monkeypatch.setenv("SOARKIT_MINI_SHIPPED", "0")
    monkeypatch.setenv("SOARKIT_CACHE", str(tmp_path / "fresh"))
    assert build_or_load(toy, seed=0, recipe=tiny_recipe).built


def test_force_rebuilds_over_a_cached_entry(toy, tiny_recipe, mini_cache) -> None:
    first = build_or_load(toy, seed=0, recipe=tiny_recipe)
    again = build_or_load(toy, seed=0, recipe=tiny_recipe, force=True)
    assert again.built and again.path == first.path
    assert (again.path / build_mod.META_FILE).is_file()


def test_shipped_math_model_matches_the_default_recipe() -> None:
    """The weights in the package are what the default recipe builds (same key), so a fresh
    clone loads them instead of spending ~20 CPU-minutes; a recipe or domain change that forgets
    to re-ship falls back to a real build (and this test says so)."""
    from soar_kit.plugins import get_manager

    domain = get_manager().domain("math")
    expected = build_mod.shipped_root() / entry_path(domain).name
    assert (expected / build_mod.META_FILE).is_file(), (
        f"no shipped soar-mini for the default math recipe ({expected.name}); run "
        "`soarkit mini build --domain math --ship`"
    )


def test_cli_mini_build_reports_the_shipped_model() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "soar_kit", "mini", "build", "--domain", "math"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "already built" in out.stdout and "parameters" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "soar_kit", "mini", "build", "--domain", "nope"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0 and "nope" in bad.stderr


def test_stale_temp_folders_of_killed_builds_are_swept(toy, tiny_recipe, mini_cache) -> None:
    import os
    import time

    root = mini_cache / "soar-mini"
    old = root / ".toy-abc.killed"
    old.mkdir(parents=True)
    (old / "model.safetensors").write_bytes(b"partial")
    past = time.time() - build_mod.STALE_TEMP_SECONDS - 60
    os.utime(old, (past, past))
    recent = root / ".toy-def.running"  # a build that may still be running: kept
    recent.mkdir()
    build_or_load(toy, seed=0, recipe=tiny_recipe)
    assert not old.exists()
    assert recent.exists()
