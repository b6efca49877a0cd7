"""Shared by the executor tests: one small soar-mini model per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from soar_kit.plugins import get_manager


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """soar-mini (math, ~140k parameters) saved the way run_soar saves RUN_DIR/model.

    Built into a session-temporary SOARKIT_CACHE (about 25 s on an idle 2-core machine) unless
    SOARKIT_CACHE is set, in which case that cache is used and kept.
    """
    pytest.importorskip("torch")
    from soar_kit.mini.build import CACHE_ENV, build_or_load
    from soar_kit.mini.corpus import MiniRecipe

    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = old or str(tmp_path_factory.mktemp("soarkit-cache"))
    try:
        domain = get_manager().domain("math")
        recipe = MiniRecipe(
            texts=3000, steps=120, batch=16, hidden=64, layers=2, heads=4, ffn=256, context=256
        )
        build = build_or_load(domain, recipe=recipe)
    finally:
        if old is None:
            os.environ.pop(CACHE_ENV, None)
    out = tmp_path_factory.mktemp("run") / "model"
    build.model.save_pretrained(out, safe_serialization=True)
    build.tokenizer.save_pretrained(out)
    return out
