"""Write real (throwaway) installed distributions for plugin-discovery tests.

An installed distribution is, to importlib.metadata, a ``*.dist-info`` folder with METADATA and
entry_points.txt next to importable code; :func:`install_fake_dist` writes exactly that (what pip
writes), so the plugin manager is exercised on real entry points without touching the venv.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def install_fake_dist(
    root: Path, dist: str, version: str, modules: dict[str, str], entry_points: dict[str, str]
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    eps = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[soar_kit]\n{eps}\n")
    (info / "RECORD").write_text("")
