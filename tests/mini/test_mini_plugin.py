from __future__ import annotations

import sys

import pytest
from mini_toy_domain import NoWorldDomain

import soar_kit.mini
from soar_kit.contracts.model import Policy
from soar_kit.errors import SoarKitError
from soar_kit.plugins import PluginManager


def _source():
    return PluginManager(load_entry_points=False).get("model", "soar-mini")


def test_registered_as_builtin_model_source() -> None:
    src = _source()
    assert src.handles("soar-mini") and not src.handles("gpt2")
    assert src.available() is None


def test_plugin_module_does_not_import_torch_at_import_time() -> None:
    import subprocess

    code = "import sys, soarkit_plugins.mini; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_needs_a_domain_with_a_mini_world() -> None:
    src = _source()
    with pytest.raises(SoarKitError, match="none was given"):
        src.load("soar-mini", domain=None)
    with pytest.raises(SoarKitError, match="no mini_world"):
        src.load("soar-mini", domain=NoWorldDomain())


def test_load_builds_then_reuses(toy, tiny_recipe, mini_cache, monkeypatch) -> None:
    real = soar_kit.mini.build_or_load
    calls = []

    def tiny(domain, *, seed=0, recipe=None, log=None):
        calls.append(seed)
        return real(domain, seed=seed, recipe=tiny_recipe)

    monkeypatch.setattr(soar_kit.mini, "build_or_load", tiny)
    src = _source()
    first = src.load("soar-mini", domain=toy, seed=5)
    assert isinstance(first, Policy)
    assert first.info["built_now"] and first.info["params"] > 0
    second = src.load("soar-mini", domain=toy, seed=5)
    assert not second.info["built_now"] and second.info["path"] == first.info["path"]
    assert calls == [0, 0]  # one build per domain whatever the run's seed
    assert first.tokenizer.eos_token_id == first.model.generation_config.eos_token_id
