"""Fixtures for core tests."""

from __future__ import annotations

import pytest

from soar_kit.plugins import reset_manager


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path for test distributions; the global manager is reset around the test."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("SOARKIT_LOAD_PLUGINS", raising=False)
    reset_manager()
    yield root
    reset_manager()
