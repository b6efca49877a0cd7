"""The layering of soar_kit/ as a checked rule: the import-linter contracts in pyproject.toml
(no import circles, floors only import downwards, the contracts and the core never import
plugins or domains). Run here so that the default suite, and so CI, fails when a circle or an
upward import comes back; see docs/architecture.md for the floors."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports() -> str | None:
    beside = Path(sys.executable).parent / "lint-imports"
    return str(beside) if beside.exists() else shutil.which("lint-imports")


@pytest.mark.skipif(
    importlib.util.find_spec("importlinter") is None or _lint_imports() is None,
    reason="import-linter is not installed (pip install -e '.[dev]')",
)
def test_import_contracts_hold():
    out = subprocess.run(
        [_lint_imports(), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = out.stdout + out.stderr
    assert out.returncode == 0, report
    assert "0 broken" in report
    # every contract of pyproject.toml ran (a misspelt table would silently check fewer)
    assert "Contracts: 5 kept" in report
