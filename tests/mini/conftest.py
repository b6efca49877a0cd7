"""Fixtures for the soar-mini tests: a private cache dir and a tiny recipe that trains in seconds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for mini_toy_domain (no package here)

from mini_toy_domain import ToyAddDomain

from soar_kit.mini import MiniRecipe

#: Small enough to build in a few seconds; the properties under test do not need a good model.
TINY = MiniRecipe(texts=400, steps=8, batch=16, hidden=32, layers=1, heads=2, ffn=64, context=128)


@pytest.fixture
def tiny_recipe() -> MiniRecipe:
    return TINY


@pytest.fixture
def toy() -> ToyAddDomain:
    return ToyAddDomain(levels=5, hard_level=5)


@pytest.fixture
def mini_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOARKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
