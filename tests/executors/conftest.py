"""Shared by the executor tests: one small soar-mini model per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from soar_kit.plugins import get_manager


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default soar-mini (math) saved the way run_soar saves RUN_DIR/model.

    It ships with the package, so nothing is built. (A tiny build used to stand in here; since
    the mini world's problems all have six operations, a model that small never boxes an answer
    within the token budget, and a comparison of all-zero rewards would prove nothing.)
    """
    pytest.importorskip("torch")
    from soar_kit.mini.build import CACHE_ENV, build_or_load

    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = old or str(tmp_path_factory.mktemp("soarkit-cache"))
    try:
        domain = get_manager().domain("math")
        build = build_or_load(domain)
    finally:
        if old is None:
            os.environ.pop(CACHE_ENV, None)
    out = tmp_path_factory.mktemp("run") / "model"
    build.model.save_pretrained(out, safe_serialization=True)
    build.tokenizer.save_pretrained(out)
    return out
